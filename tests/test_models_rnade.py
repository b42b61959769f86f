"""RNADE: a normalised density, autoregressive in its order, sampled correctly, loud about bad input.

RNADE is continuous, so it sits outside the discrete model protocol (tests/test_model_protocol.py):
its checks are here, with autograd instead of perturbing integer inputs.
"""
import math

import pytest
import torch
from scipy.stats import kstest

from utils.continuous_data import continuous_2d
from utils.metrics import evaluate
from utils.models import RNADE
from utils.models.rnade import mixture_log_density
from utils.train import fit


def randomize(model: RNADE, seed: int, scale: float = 0.5) -> RNADE:
    """Draw every parameter from N(0, scale^2): conditionals that really depend on earlier inputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)
    return model


def grid_2d(limit: float = 10.0, points: int = 801) -> tuple[torch.Tensor, float]:
    """Midpoints of a square grid over [-limit, limit]^2: (points^2, 2) float64, and the cell area."""
    step = 2 * limit / points
    centres = -limit + step * (torch.arange(points, dtype=torch.float64) + 0.5)
    return torch.cartesian_prod(centres, centres), step * step


@torch.no_grad()
def grid_integral(log_prob, limit: float = 10.0, points: int = 801) -> float:
    """Integral of exp(log_prob) over the grid (midpoint rule)."""
    grid, area = grid_2d(limit, points)
    return float(log_prob(grid).exp().sum() * area)


def leaks(model: RNADE, x: torch.Tensor) -> list[tuple[int, int]]:
    """(i, j) pairs where conditional i's mixture parameters have a gradient with respect to x_j
    although x_j is not generated strictly before x_i (autograd on the float input)."""
    found = []
    for i in range(model.num_dims):
        x = x.detach().clone().requires_grad_(True)
        logits, means, log_scales = model.conditionals(x)
        total = (logits[:, i] ** 2).sum() + means[:, i].sum() + log_scales[:, i].sum()
        grad, = torch.autograd.grad(total, x)
        for j in range(model.num_dims):
            if model.rank[j] >= model.rank[i] and float(grad[:, j].abs().max()) > 0:
                found.append((i, j))
    return found


# ----------------------------------------------------------------------------------------------
# a density: integrates to one


@pytest.mark.parametrize("components, ordering", [(1, None), (3, None), (4, [1, 0])])
def test_density_integrates_to_one_with_random_weights(components, ordering):
    model = randomize(RNADE(2, 8, components, ordering=ordering).double(), seed=components)
    assert grid_integral(model.log_prob) == pytest.approx(1.0, abs=0.01)


def test_density_integrates_to_one_after_training():
    moons = continuous_2d(n_train=500, n_valid=200, n_test=200, seed=1)
    torch.manual_seed(0)
    model = RNADE(2, 16, 5)
    fit(model, moons.train, None, epochs=15, batch_size=100, lr=3e-2, progress=False)
    model = model.double()
    assert grid_integral(model.log_prob, limit=6.0, points=481) == pytest.approx(1.0, abs=0.01)
    # the grid covers the mass: the integral over a smaller square loses a visible part of it
    assert grid_integral(model.log_prob, limit=1.0, points=201) < 0.9


def test_grid_integral_catches_an_unnormalised_density():
    model = randomize(RNADE(2, 8, 3).double(), seed=0)
    assert abs(grid_integral(lambda x: model.log_prob(x) + 0.02) - 1.0) > 0.01


def test_log_prob_is_a_density_not_a_probability():
    """A narrow density has log-density > 0 near its mode: log_prob may be positive."""
    model = RNADE(2, 4, 1)
    with torch.no_grad():
        model.V.zero_()
        model.b.zero_()
        model.b[:, 2] = -3.0                        # sigma = e^-3 in both dimensions
    assert float(model.log_prob(torch.zeros(1, 2)).detach()) > 0


# ----------------------------------------------------------------------------------------------
# autoregressive, by autograd


@pytest.mark.parametrize("ordering", [None, [2, 0, 3, 1], [3, 2, 1, 0]])
def test_conditionals_read_only_earlier_dimensions(ordering):
    model = randomize(RNADE(4, 6, 3, ordering=ordering), seed=4)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    assert leaks(model, x) == []
    # coverage: every earlier dimension reaches each conditional (NADE's hidden layer sees all of them)
    for i in range(4):
        x = x.detach().clone().requires_grad_(True)
        grad, = torch.autograd.grad(model.conditionals(x)[1][:, i].sum(), x)
        earlier = (model.rank < model.rank[i]).nonzero().flatten().tolist()
        assert all(float(grad[:, j].abs().max()) > 0 for j in earlier), (i, earlier, grad)


@pytest.mark.parametrize("ordering", [None, [1, 3, 0, 2]])
def test_log_conditional_depends_on_itself_and_earlier_dimensions_only(ordering):
    model = randomize(RNADE(4, 6, 2, ordering=ordering), seed=5)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    log_conditionals = model.conditional_log_prob(x)                     # (N, D)
    for i in range(4):
        grad, = torch.autograd.grad(log_conditionals[:, i].sum(), x, retain_graph=True)
        for j in range(4):
            moved = float(grad[:, j].abs().max()) > 0
            assert moved == (model.rank[j] <= model.rank[i]), (i, j, grad)


def test_the_leak_check_can_fail():
    """A broken RNADE whose running sum includes the current dimension is caught."""
    class Inclusive(RNADE):
        def conditionals(self, x):
            steps = x[:, self.ordering]
            h = torch.sigmoid(self.c + torch.cumsum(steps.unsqueeze(-1) * self.W[:, self.ordering].T, dim=1))
            out = (torch.einsum("ndh,dkmh->ndkm", h, self.V[self.ordering]) + self.b[self.ordering])[:, self.rank]
            return out[:, :, 0], out[:, :, 1], out[:, :, 2]

    model = randomize(Inclusive(3, 4, 2), seed=0)
    assert leaks(model, torch.randn(2, 3)) == [(0, 0), (1, 1), (2, 2)]


# ----------------------------------------------------------------------------------------------
# log_prob by hand


def test_log_prob_equals_the_sum_of_hand_computed_mixture_log_densities():
    model = randomize(RNADE(2, 3, 2, ordering=[1, 0]).double(), seed=7)
    x = torch.tensor([[0.3, -1.2], [1.5, 0.4]], dtype=torch.float64)
    W, c, V, b = (p.detach() for p in (model.W, model.c, model.V, model.b))
    for n in range(len(x)):
        total = 0.0
        for d, hidden_input in [(1, 0.0), (0, W[:, 1] * x[n, 1])]:       # order: x_1 first, then x_0
            h = torch.sigmoid(c + hidden_input)
            logits, means, log_scales = (V[d, k] @ h + b[d, k] for k in range(3))
            weights = torch.softmax(logits, dim=0)
            density = sum(weights[m] * torch.exp(-0.5 * ((x[n, d] - means[m]) / log_scales[m].exp()) ** 2)
                          / (log_scales[m].exp() * math.sqrt(2 * math.pi)) for m in range(2))
            total = total + torch.log(density)
        assert float(model.log_prob(x[n:n + 1])[0].detach()) == pytest.approx(float(total), abs=1e-10)


def test_mixture_log_density_matches_torch_distributions():
    generator = torch.Generator().manual_seed(3)
    logits, means, log_scales = (torch.randn(7, 4, generator=generator, dtype=torch.float64) for _ in range(3))
    x = torch.randn(7, generator=generator, dtype=torch.float64)
    mixture = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(logits=logits),
                                                    torch.distributions.Normal(means, log_scales.exp()))
    torch.testing.assert_close(mixture_log_density(x, logits, means, log_scales), mixture.log_prob(x))


# ----------------------------------------------------------------------------------------------
# sampling


def test_samples_match_the_density_mean_and_covariance():
    model = randomize(RNADE(2, 8, 3).double(), seed=2, scale=0.3)
    grid, area = grid_2d(limit=10.0, points=801)
    with torch.no_grad():
        weight = model.log_prob(grid).exp() * area                          # (G,) probability of each cell
    assert float(weight.sum()) == pytest.approx(1.0, abs=1e-3)             # the grid holds the mass
    mean = (weight[:, None] * grid).sum(0)
    centred = grid - mean
    cov = (weight[:, None, None] * centred[:, :, None] * centred[:, None, :]).sum(0)
    samples = model.sample(40000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (40000, 2) and samples.dtype == torch.float64
    scale = cov.diagonal().sqrt()
    # standard errors are about scale / 200 for the mean; the bands are several times wider
    torch.testing.assert_close(samples.mean(0), mean, atol=float(0.03 * scale.max()), rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), cov, atol=float(0.05 * cov.abs().max()), rtol=0)


def test_sample_histogram_agrees_with_the_density():
    """Counts of 20 000 samples in the cells of a coarse grid against the model's cell probabilities."""
    model = randomize(RNADE(2, 8, 3, ordering=[1, 0]).double(), seed=3)
    samples = model.sample(20000, generator=torch.Generator().manual_seed(1))
    edges = torch.linspace(-4, 4, 9, dtype=torch.float64)
    cell = lambda v: torch.bucketize(v.contiguous(), edges) - 1                         # -1 or 8: outside the square
    inside = ((samples > -4) & (samples < 4)).all(1)
    counts = torch.zeros(8, 8, dtype=torch.float64)
    counts.index_put_((cell(samples[inside, 0]), cell(samples[inside, 1])), torch.ones(int(inside.sum()),
                      dtype=torch.float64), accumulate=True)
    fine, area = grid_2d(limit=4.0, points=400)
    with torch.no_grad():
        mass = model.log_prob(fine).exp() * area
    expected = torch.zeros(8, 8, dtype=torch.float64)
    expected.index_put_((cell(fine[:, 0]), cell(fine[:, 1])), mass, accumulate=True)
    expected *= 20000
    busy = expected > 50
    z = (counts[busy] - expected[busy]) / expected[busy].sqrt()
    assert int(busy.sum()) >= 4 and float(z.abs().max()) < 5, z


@pytest.mark.parametrize("ordering", [None, [2, 0, 1]])
def test_each_sampled_dimension_follows_its_conditional(ordering):
    """Probability integral transform: u_d = F(x_d | x_<d), the conditional CDF at the sampled value, is
    uniform on [0, 1] for every d exactly when each x_d was drawn from its conditional given the x_<d
    drawn before it (a sampler that forgot to update its hidden state, or read the wrong mixture, fails)."""
    model = randomize(RNADE(3, 8, 3, ordering=ordering).double(), seed=6, scale=1.0)
    samples = model.sample(20000, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits, means, log_scales = model.conditionals(samples)            # (N, D, M)
    normal = torch.distributions.Normal(means, log_scales.exp())
    u = (torch.softmax(logits, -1) * normal.cdf(samples.unsqueeze(-1))).sum(-1)   # (N, D)
    for d in range(3):
        assert kstest(u[:, d].numpy(), "uniform").pvalue > 1e-3, d


def test_sampling_is_deterministic_for_a_generator_and_follows_the_order():
    model = randomize(RNADE(3, 5, 2, ordering=[2, 0, 1]), seed=1)
    first = model.sample(6, generator=torch.Generator().manual_seed(5))
    again = model.sample(6, generator=torch.Generator().manual_seed(5))
    other = model.sample(6, generator=torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.dtype == torch.float32 and torch.isfinite(first).all()


# ----------------------------------------------------------------------------------------------
# training


def test_training_lowers_validation_nll_and_beats_a_single_gaussian():
    moons = continuous_2d(n_train=1000, n_valid=500, n_test=500, seed=2)
    torch.manual_seed(0)
    model = RNADE(2, 16, 5)
    history = fit(model, moons.train, moons.validation, epochs=20, batch_size=100, lr=3e-2, progress=False)
    assert history.valid_losses[-1] < history.valid_losses[0] - 0.2
    gaussian = torch.distributions.MultivariateNormal(moons.train.mean(0), torch.cov(moons.train.T, correction=0))
    gaussian_nats = float(-gaussian.log_prob(moons.validation).mean()) / 2
    assert evaluate(model, moons.validation) < gaussian_nats - 0.1


# ----------------------------------------------------------------------------------------------
# bad input, and the data


@pytest.mark.parametrize("bad, error, words", [
    (torch.zeros(3, 2, dtype=torch.long), TypeError, "real numbers"),
    (torch.zeros(3, 3), ValueError, "shape"),
    (torch.zeros(2), ValueError, "shape"),
    (torch.tensor([[0.0, float("nan")]]), ValueError, "NaN"),
    (torch.tensor([[float("inf"), 0.0]]), ValueError, "infinite"),
    ([[0.0, 1.0]], TypeError, "torch.Tensor"),
])
def test_bad_input_is_refused_clearly(bad, error, words):
    with pytest.raises(error, match=words):
        RNADE(2, 4, 2).log_prob(bad)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="num_components"):
        RNADE(2, 4, 0)
    with pytest.raises(ValueError, match="permutation"):
        RNADE(3, 4, 2, ordering=[0, 0, 1])
    with pytest.raises(ValueError, match="condition"):
        RNADE(2, 4, 2).log_prob(torch.zeros(1, 2), condition=torch.zeros(1))


def test_continuous_2d_is_seeded_and_split():
    first, again, other = continuous_2d(300, 100, 200, seed=0), continuous_2d(300, 100, 200, seed=0), \
        continuous_2d(300, 100, 200, seed=1)
    assert [tuple(split.shape) for split in (first.train, first.validation, first.test)] == [(300, 2), (100, 2), (200, 2)]
    assert first.train.dtype == torch.float32
    assert all(torch.equal(getattr(first, s), getattr(again, s)) for s in ("train", "validation", "test"))
    assert not torch.equal(first.train, other.train)
    assert not torch.equal(first.train[:100], first.validation)
    with pytest.raises(ValueError, match="n_valid"):
        continuous_2d(10, 0, 10)
