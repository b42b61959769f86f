"""Checks that prove a model is autoregressive, and friendly checks for notebooks.

The autoregressive property: output i (the distribution of x_i) may depend only on inputs that come
*strictly earlier* in the generation order. Coverage: where an architecture promises it, output i
depends on *every* earlier input (a "blind spot" is an earlier input that cannot reach it).

Both are measured the same model-agnostic way: change one input position at a time and record which
outputs move. Positions are indexed in the flattened input layout: j for (N, D) data, and
c*H*W + h*W + w for (N, C, H, W) images.

    >>> report = dependency_report(model, input_shape=(1, 8, 8), num_values=2)
    >>> report.assert_autoregressive()   # raises AssertionError naming the first leaks
    >>> report.unseen_counts()           # (P,) earlier positions that cannot reach each output
"""
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .ordering import generation_rank, position_name


# ----------------------------------------------------------------------------------------------
# which inputs reach which outputs


def made_connectivity(masks: list[torch.Tensor]) -> torch.Tensor:
    """(D, D) number of paths from input j to output i through a stack of masks (input mask first).

    > 0 exactly where output i can see input j: MADE's connectivity, read off its masks alone.
    """
    paths = masks[0]
    for mask in masks[1:]:
        paths = mask @ paths
    return paths


def _default_outputs(model: torch.nn.Module) -> Callable:
    def outputs(x):
        return model(x).reshape(len(x), x[0].numel(), -1)
    return outputs


@torch.no_grad()
def dependency_matrix(model: torch.nn.Module | None, input_shape: Sequence[int], num_values: int, *,
                      output_fn: Callable | None = None, trials: int = 3, seed: int = 0,
                      chunk: int = 256, atol: float = 1e-5) -> torch.Tensor:
    """dep[i, j] = True when changing input j changes output i; a (P, P) bool tensor.

    output_fn(x) -> (N, P, ...) per-position outputs for a batch x of shape (N, *input_shape);
    by default `model(x)` reshaped that way (logits (N, D, K) or (N, C, H, W, K) both fit).
    Each of `trials` random base inputs has every position changed, one at a time, to a random
    other value; an output "changes" when any of its numbers moves by more than atol.
    """
    if num_values < 2:
        raise ValueError(f"num_values must be at least 2 to perturb an input, got {num_values}")
    if output_fn is None:
        if model is None:
            raise ValueError("pass a model or an output_fn")
        output_fn = _default_outputs(model)
    was_training = model.training if model is not None else False
    if model is not None:
        model.eval()
    params = next(model.parameters(), None) if model is not None else None
    device = params.device if params is not None else torch.device("cpu")
    input_shape = tuple(input_shape)
    num_positions = math.prod(input_shape)
    generator = torch.Generator().manual_seed(seed)
    dep = torch.zeros(num_positions, num_positions, dtype=torch.bool)
    for _ in range(trials):
        base = torch.randint(0, num_values, (num_positions,), generator=generator)
        shifted = (base + torch.randint(1, num_values, (num_positions,), generator=generator)) % num_values
        for start in range(0, num_positions, chunk):
            moved = torch.arange(start, min(start + chunk, num_positions))
            batch = base.repeat(len(moved) + 1, 1)           # row 0 stays the unperturbed base
            batch[torch.arange(1, len(moved) + 1), moved] = shifted[moved]
            out = output_fn(batch.reshape(-1, *input_shape).to(device)).double().cpu()
            if out.shape[:2] != (len(batch), num_positions):
                raise ValueError(f"output_fn must return (N, {num_positions}, ...), got {tuple(out.shape)}")
            diff = (out[1:] - out[:1]).abs().reshape(len(moved), num_positions, -1).amax(-1)
            dep[:, moved] |= (diff > atol).T
    if model is not None:
        model.train(was_training)
    return dep


@dataclass
class DependencyReport:
    """Which inputs reach which outputs, judged against a generation order."""
    dep: torch.Tensor          # (P, P) bool, dep[i, j]: output i depends on input j
    rank: torch.Tensor         # (P,) generation step of each position
    input_shape: tuple

    def violations(self) -> list[tuple[int, int]]:
        """(output i, input j) pairs where i depends on j although j is not strictly earlier."""
        later_or_same = self.rank[None, :] >= self.rank[:, None]
        return [tuple(pair) for pair in (self.dep & later_or_same).nonzero().tolist()]

    def unseen(self, output: int) -> list[int]:
        """Earlier inputs that cannot reach `output` (its blind spot)."""
        earlier = self.rank < self.rank[output]
        return (earlier & ~self.dep[output]).nonzero().flatten().tolist()

    def unseen_counts(self) -> torch.Tensor:
        """(P,) number of earlier inputs that do not reach each output."""
        earlier = self.rank[None, :] < self.rank[:, None]
        return (earlier & ~self.dep).sum(1)

    @property
    def is_autoregressive(self) -> bool:
        return not self.violations()

    def _name(self, p: int) -> str:
        return position_name(p, self.input_shape)

    def assert_autoregressive(self) -> None:
        """Raise AssertionError listing the first leaks (outputs that see their own or a later input)."""
        leaks = self.violations()
        if leaks:
            shown = "; ".join(f"output {self._name(i)} depends on input {self._name(j)}"
                              + (" (itself)" if i == j else " (comes later)") for i, j in leaks[:5])
            raise AssertionError(f"not autoregressive: {len(leaks)} leak(s), e.g. {shown}")

    def assert_full_coverage(self) -> None:
        """Raise AssertionError if some output cannot see an earlier input (a blind spot)."""
        counts = self.unseen_counts()
        if int(counts.sum()):
            worst = int(counts.argmax())
            missing = ", ".join(self._name(j) for j in self.unseen(worst)[:5])
            raise AssertionError(f"blind spot: {int((counts > 0).sum())} output(s) miss earlier inputs; "
                                 f"output {self._name(worst)} cannot see {int(counts[worst])}, e.g. {missing}")


def dependency_report(model: torch.nn.Module | None, input_shape: Sequence[int], num_values: int, *,
                      ordering: Sequence[int] | None = None, **kwargs) -> DependencyReport:
    """Measure dependencies (see dependency_matrix, which takes **kwargs) against an ordering."""
    dep = dependency_matrix(model, input_shape, num_values, **kwargs)
    return DependencyReport(dep, generation_rank(input_shape, ordering), tuple(input_shape))


def assert_autoregressive(model: torch.nn.Module, input_shape: Sequence[int], num_values: int, *,
                          ordering: Sequence[int] | None = None, **kwargs) -> DependencyReport:
    """Raise AssertionError if any output depends on its own or a later input; return the report."""
    report = dependency_report(model, input_shape, num_values, ordering=ordering, **kwargs)
    report.assert_autoregressive()
    return report


# ----------------------------------------------------------------------------------------------
# friendly checks for notebooks

STRICT_CHECKS_VARIABLE = "COURSE_STRICT_CHECKS"   # set by `make test`: a failed visible check fails the test


class CheckFailed(AssertionError):
    """A visible check failed while the test command runs (COURSE_STRICT_CHECKS=1)."""


def strict_checks() -> bool:
    """True under the test command, where a ✗ must fail the notebook instead of only printing."""
    return os.environ.get(STRICT_CHECKS_VARIABLE, "") not in ("", "0")


def expect(condition: bool, message: str) -> None:
    """Raise AssertionError(message) unless condition holds: the building block of visible checks."""
    if not condition:
        raise AssertionError(message)


def expect_close(actual, expected, what: str, atol: float = 1e-5) -> None:
    """Raise AssertionError saying how far `actual` is from `expected` (tensors or numbers)."""
    actual = torch.as_tensor(actual.detach() if isinstance(actual, torch.Tensor) else actual, dtype=torch.float64)
    expected = torch.as_tensor(expected.detach() if isinstance(expected, torch.Tensor) else expected, dtype=torch.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    gap = float((actual - expected).abs().max()) if actual.numel() else 0.0
    if not gap <= atol:
        raise AssertionError(f"{what} is off by up to {gap:.3g} (tolerance {atol:g})")


def expect_between(value: float, low: float, high: float, what: str) -> None:
    """Raise AssertionError unless low <= value <= high: checks a trained figure against a stated band.

    Trained numbers move in their last digits between CPUs and PyTorch versions, so notebooks check
    them against a band (measured over seeds and versions) instead of printing exact digits.
    """
    value = float(value)
    if not low <= value <= high:
        raise AssertionError(f"{what} is {value:.4g}, outside the expected band [{low:g}, {high:g}]")


@contextmanager
def friendly_check(what: str, hint: str = ""):
    """Run the indented checks and print ✓ or ✗ with the reason and a hint.

        with friendly_check("probabilities sum to one", hint="divide the counts by their total"):
            expect(abs(probs.sum() - 1) < 1e-6, f"they sum to {probs.sum():.4f}")

    For students and self-learners it never raises: the ✗ line says what is wrong. Under the test
    command (COURSE_STRICT_CHECKS=1, set by `make test`) it prints the same line and then raises
    CheckFailed with that message, so a failing check fails the notebook's test.
    """
    hint_line = f"\n  Hint: {hint}" if hint else ""
    try:
        yield
    except NotImplementedError:
        failure = f"✗ {what}: not implemented yet. Fill in the cell marked YOUR CODE HERE above."
    except AssertionError as error:
        failure = f"✗ {what}: {error}{hint_line}"
    except Exception as error:  # a crash in student code is reported, not raised
        failure = f"✗ {what}: your code raised {type(error).__name__}: {error}{hint_line}"
    else:
        print(f"✓ {what}")
        return
    print(failure)
    if strict_checks():
        raise CheckFailed(failure) from None
