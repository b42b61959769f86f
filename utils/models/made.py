"""MADE: an MLP made autoregressive by masking its weights.

Every unit gets a degree. Input j's degree is its generation step rank[j] (0 for the first position
drawn). A hidden unit of degree d may see the units below it with degree <= d, so it depends only on
inputs with rank <= d. Output i may see hidden units with degree < rank[i], so it depends only on
inputs generated strictly before it. Zeroing every other weight (masks) keeps the network
autoregressive whatever the weights are; one forward pass gives all D conditionals.

    degrees = made_degrees(num_inputs=4, hidden_sizes=[5], ordering="random", generator=g)
    masks = made_masks(degrees)            # [(5, 4) input -> hidden, (4, 5) hidden -> output]
    made_connectivity(masks) > 0           # (4, 4): which inputs can reach which outputs

Order-agnostic training (num_masks > 1): the model keeps num_masks connectivity sets (an ordering
and hidden degrees each, rebuilt on demand from `seed`). The training loop moves to the next set
itself, one visible line per step:

    for step, batch in enumerate(batches):
        model.set_mask(step % model.num_masks)
        loss = -model.log_prob(batch).mean()

`forward` and `log_prob` always use the current set and change nothing. `ensemble_log_prob`
averages the *probabilities* of all sets (log-mean-exp, not an average of logits): a mixture of
num_masks models, usually better than each of its members. Such a model can also complete an image
in an order that puts the observed pixels first (`inpaint`). Masks are rebuilt from the seed, so
even a huge num_masks costs no memory.
"""
import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import made_connectivity
from ..ordering import generation_rank
from ..sampling import sample
from .conditioning import no_condition
from ..validation import check_discrete, check_positive_int, check_same_device
from .outputs import encode_values, numbers_per_position, output_log_prob, output_logits

HIDDEN_DEGREE_RULES = ("random", "spread")


# ----------------------------------------------------------------------------------------------
# degrees and masks (pure functions, also used by the mask widget)


def made_degrees(num_inputs: int, hidden_sizes, ordering=None, hidden_degrees: str = "random",
                 generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Degrees of every unit: [input (D,), hidden layer 1 (H1,), ..., hidden layer L (HL,)].

    ordering: None (0, 1, ..., D-1), "random" (a permutation drawn with `generator`), or the positions
              in the order they are generated. Input j gets degree rank[j], its generation step.
    hidden_degrees: how the degrees of a hidden layer are chosen in [low, D-2], where low is the
    lowest degree of the layer below (so every unit has a unit below to listen to) and D-2 is the
    highest useful degree (a unit of degree D-1 could feed no output):
      "random": uniform in [low, D-2], like the original MADE;
      "spread": evenly spaced from low to D-2. With every layer at least D-1 wide, low stays 0 and
                every degree occurs in every layer, so each output sees *every* earlier input.
    In both cases the unit with the highest degree is then raised to D-2, so that every unit of the
    layer below has a unit to feed: no hidden unit is dead (cut off from all inputs or from all
    outputs), whatever the widths.
    """
    check_positive_int(num_inputs, "num_inputs")
    if num_inputs < 2:
        raise ValueError(f"MADE needs at least 2 inputs (the first output sees nothing), got {num_inputs}")
    if hidden_degrees not in HIDDEN_DEGREE_RULES:
        raise ValueError(f"hidden_degrees must be one of {HIDDEN_DEGREE_RULES}, got {hidden_degrees!r}")
    if isinstance(ordering, str):
        if ordering != "random":
            raise ValueError(f"ordering must be None, 'random' or a permutation of range({num_inputs}), "
                             f"got {ordering!r}")
        ordering = torch.randperm(num_inputs, generator=generator)
    degrees = [generation_rank((num_inputs,), ordering)]
    top = num_inputs - 2
    for size in hidden_sizes:
        check_positive_int(size, "each hidden size")
        low = int(degrees[-1].min())
        if hidden_degrees == "spread":
            layer = torch.linspace(low, top, size).round().long()      # a single unit gets low
        else:
            layer = torch.randint(low, top + 1, (size,), generator=generator)
        layer[layer.argmax()] = top              # so that every unit of the layer below has one to feed
        degrees.append(layer)
    return degrees


def made_masks(degrees: list[torch.Tensor]) -> list[torch.Tensor]:
    """Masks (out, in) of every layer from the degrees [input (D,), hidden 1, ..., hidden L].

    Hidden layer: unit u sees unit v below when degree[u] >= degree[v].
    Output layer: output i sees hidden unit u when rank[i] > degree[u] (strictly: never itself).
    Returns L + 1 float masks: (H1, D), (H2, H1), ..., (D, HL); just (D, D) when L = 0.
    """
    masks = [(above[:, None] >= below[None, :]).float() for below, above in zip(degrees, degrees[1:])]
    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())
    return masks


def dead_units(masks: list[torch.Tensor]) -> list[torch.Tensor]:
    """One (H_l,) bool tensor per hidden layer: True for units on no path from an input to an output.

    Such a unit wastes its weights: either nothing reaches it or it reaches nothing.
    """
    reached = [torch.ones(masks[0].shape[1], dtype=torch.bool)]           # from the inputs, upwards
    for mask in masks:
        reached.append((mask @ reached[-1].float()) > 0)
    reaching = [torch.ones(masks[-1].shape[0], dtype=torch.bool)]         # to the outputs, downwards
    for mask in reversed(masks):
        reaching.insert(0, (mask.T @ reaching[0].float()) > 0)
    return [~(up & down) for up, down in zip(reached[1:-1], reaching[1:-1])]


# ----------------------------------------------------------------------------------------------
# the model


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (a buffer) on every call."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features)
        self.register_buffer("mask", torch.ones(out_features, in_features))

    def set_mask(self, mask: torch.Tensor) -> None:
        self.mask.copy_(mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.mask * self.weight, self.bias)


class MADE(nn.Module):
    """Masked autoencoder for distribution estimation over x (N, D) with K values per position.

    hidden_sizes: widths of the hidden layers (any number, any width, also narrower than D); ReLU.
    num_values:   K >= 2. For K = 2 the input is x itself and one logit per position comes out;
                  for K > 2 the input is one-hot (D*K numbers) and K logits per position come out
                  (the output mask row of position i is repeated for each of its K logits).
    ordering:     None (natural), "random" (drawn from `seed`, a new one for every mask set) or a
                  permutation: the positions in generation order, shared by every mask set.
    num_masks:    number of connectivity sets; > 1 for order-agnostic training (see module docs).
    hidden_degrees: "random" or "spread", see `made_degrees`.
    seed:         mask set k is always built from torch.Generator().manual_seed(seed + k).

    forward: x (N, D) long -> logits (N, D, K) with the current masks.
    log_prob: x (N, D) -> (N,) nats with the current masks; ensemble_log_prob: all mask sets.
    self.ordering: the current generation order (utils.sampling.sample follows it).
    inpaint: complete the unobserved positions of partly observed inputs.
    """

    def __init__(self, num_inputs: int, hidden_sizes, num_values: int = 2, ordering=None, num_masks: int = 1,
                 hidden_degrees: str = "random", seed: int = 0):
        super().__init__()
        self.num_inputs = check_positive_int(num_inputs, "num_inputs")
        self.num_values = check_positive_int(num_values, "num_values")
        if num_values < 2:
            raise ValueError(f"num_values must be at least 2, got {num_values}")
        self.event_shape = (num_inputs,)
        self.hidden_sizes = [hidden_sizes] if isinstance(hidden_sizes, int) else list(hidden_sizes)
        self.num_masks = check_positive_int(num_masks, "num_masks")
        self.order_rule = ordering
        self.hidden_degrees = hidden_degrees
        self.seed = seed
        self.per_position = numbers_per_position(num_values)
        sizes = [num_inputs * self.per_position, *self.hidden_sizes, num_inputs * self.per_position]
        self.layers = nn.ModuleList(MaskedLinear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.register_buffer("ordering", torch.arange(num_inputs))   # positions in generation order
        self.mask_index = 0
        self.set_mask(0)

    # -- connectivity ------------------------------------------------------------------------

    def set_degrees(self, degrees: list[torch.Tensor]) -> None:
        """Install the masks of `degrees` (see made_degrees and made_masks), widened for K > 2 values:
        the K one-hot inputs and the K logits of a position share its row or column of the mask."""
        # The comparisons of made_masks, written straight into the mask buffers: order-agnostic
        # training installs new masks before every step, and allocating fresh (H, D) tensors each
        # time costs more (page faults) than the comparisons themselves.
        pairs = [(above, below) for below, above in zip(degrees, degrees[1:])] + [(degrees[0], degrees[-1])]
        for index, ((above, below), layer) in enumerate(zip(pairs, self.layers)):
            last = index == len(self.layers) - 1
            row_copies, column_copies = (self.per_position if last else 1), (self.per_position if index == 0 else 1)
            device = layer.mask.device
            compare = torch.gt if last else torch.ge                    # outputs never see their own degree
            compare(above.to(device)[:, None, None, None].expand(-1, row_copies, 1, column_copies),
                    below.to(device)[None, None, :, None],
                    out=layer.mask.view(len(above), row_copies, len(below), column_copies))
        self.ordering.copy_(torch.argsort(degrees[0]))

    def set_mask(self, index: int) -> None:
        """Use connectivity set `index` (0 <= index < num_masks), rebuilt from the seed."""
        if not 0 <= index < self.num_masks:
            raise ValueError(f"mask index must lie in [0, {self.num_masks - 1}], got {index}")
        generator = torch.Generator().manual_seed(self.seed + index)
        self.set_degrees(made_degrees(self.num_inputs, self.hidden_sizes, self.order_rule,
                                      self.hidden_degrees, generator))
        self.mask_index = index

    def set_ordering(self, ordering, generator: torch.Generator | None = None) -> None:
        """Use a new generation order (hidden degrees drawn anew with `generator`)."""
        self.set_degrees(made_degrees(self.num_inputs, self.hidden_sizes, ordering, self.hidden_degrees, generator))

    def masks(self) -> list[torch.Tensor]:
        """The current masks, (out, in) per layer, widened for K > 2."""
        return [layer.mask for layer in self.layers]

    @contextmanager
    def masks_restored(self):
        """Run the indented code, then put back the masks and ordering in use before it."""
        saved = [mask.clone() for mask in self.masks()], self.ordering.clone(), self.mask_index
        try:
            yield
        finally:
            masks, ordering, self.mask_index = saved
            for layer, mask in zip(self.layers, masks):
                layer.set_mask(mask)
            self.ordering.copy_(ordering)

    # -- the distribution --------------------------------------------------------------------

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, D) long -> (N, D, P) numbers per position with the current masks (P = 1 for K = 2)."""
        check_discrete(x, self.num_values, shape=self.event_shape)
        check_same_device(self, x)
        h = encode_values(x, self.num_values, self.layers[0].weight.dtype).flatten(1)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        return self.layers[-1](h).reshape(len(x), self.num_inputs, self.per_position)

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        return output_logits(self.outputs(x), self.num_values)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        """(N,) nats under the current mask set."""
        no_condition(condition)
        return output_log_prob(self.outputs(x), x, self.num_values)

    def ensemble_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) log mean_k p_k(x) over the mask sets k: a mixture of num_masks autoregressive models."""
        per_mask = []
        with self.masks_restored():
            for index in range(self.num_masks):
                self.set_mask(index)
                per_mask.append(self.log_prob(x))
        return torch.logsumexp(torch.stack(per_mask), dim=0) - math.log(self.num_masks)

    def observed_first_order(self, observed_mask: torch.Tensor) -> torch.Tensor:
        """(D,) a generation order with the observed positions (observed_mask (D,) bool) first, then
        the others, each group in the current order."""
        rank = torch.argsort(self.ordering).cpu()
        return torch.argsort(rank + self.num_inputs * (~observed_mask.cpu()).long())

    @torch.no_grad()
    def inpaint(self, x_observed: torch.Tensor, observed_mask: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Complete x_observed (N, D): keep positions where observed_mask (D,) is True, sample the rest.

        Sampling the rest from p(x_rest | x_observed) needs an order in which every observed position
        comes before every unobserved one. We build it (observed positions first, then the others,
        each group in the current order), install it, sample with the observed values as the prefix
        (utils.sampling.sample), and put the previous masks back. If the current order already puts
        the observed positions first, the current masks are kept. Otherwise fresh masks are built for
        the new order (hidden degrees drawn from the model's seed): the completions are only good if
        the model was trained order-agnostically (num_masks > 1 with ordering="random", the more
        masks the better), so that it has learnt conditionals for orders it did not see.
        Values of x_observed at unobserved positions are ignored (they must still lie in [0, K)).
        """
        check_discrete(x_observed, self.num_values, name="x_observed", shape=self.event_shape)
        if not isinstance(observed_mask, torch.Tensor) or observed_mask.dtype != torch.bool \
                or observed_mask.shape != (self.num_inputs,):
            raise ValueError(f"observed_mask must be a bool tensor of shape ({self.num_inputs},), got "
                             f"{getattr(observed_mask, 'dtype', type(observed_mask).__name__)} "
                             f"{tuple(getattr(observed_mask, 'shape', ()))}")
        observed = observed_mask.cpu()
        order = self.observed_first_order(observed)
        with self.masks_restored():
            if not torch.equal(order, self.ordering.cpu()):
                self.set_ordering(order, torch.Generator().manual_seed(self.seed))
            prefix = x_observed[:, order[:int(observed.sum())].to(x_observed.device)]
            return sample(self, len(x_observed), prefix=prefix, generator=generator)
