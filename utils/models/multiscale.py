"""Breaking the sequential bottleneck: a multiscale model that draws many pixels per network evaluation.

A raster PixelCNN needs one network evaluation per pixel to sample: 196 for a 14 x 14 image, 784
for 28 x 28. A multiscale model (Reed et al., 2017, "Parallel multiscale autoregressive density
estimation"; the subscale slices of Menick & Kalchbrenner, 2019) cuts the image into f x f blocks
and calls slice s = (i, j) the pixels at offset (i, j) of every block, x[:, :, i::f, j::f]. With
f = 2 there are four slices of a 14 x 14 image, each a 7 x 7 image:

    slice 0 = (0, 0)   slice 1 = (0, 1)        0 1 0 1 0 1 ...
    slice 2 = (1, 0)   slice 3 = (1, 1)        2 3 2 3 2 3 ...     (the slice of each pixel)

Level 1 is a small PixelCNN over slice 0, the subsampled image, in raster order. Level 2 is one
small (unmasked) convolutional network per later slice that sees every earlier slice and predicts
ALL the pixels of its slice at once:

    p(x) = p(x_0) * p(x_1 | x_0) * p(x_2 | x_0, x_1) * p(x_3 | x_0, x_1, x_2),
    p(x_s | x_<s) = prod over the pixels (and channels) p of slice s of p(x_p | x_<s).

Each factor is a proper distribution, so the product is exact: log_prob sums to 1 over all images
(the tests check it on every 4 x 4 binary image). What it gives up is the dependence between the
pixels of one slice given the earlier slices: they are drawn independently, in parallel. The
earlier slices pin most of that down (a pixel's four coarse neighbours say a lot about it), so
the loss in likelihood is small, and sampling takes 49 + 3 = 52 network evaluations instead of
196. (On binary MNIST-5k at 14 x 14 with the same CPU budget it even scores better than the raster
PixelCNN: its networks run on 7 x 7 images, so it trains more steps, and its slice nets see known
pixels on every side; `python -m utils.bench.multiscale` measures both.)

Protocol (utils.sampling): forward(x) -> logits (N, C, H, W, K) for every pixel, log_prob(x) -> (N,)
nats, event_shape, num_values; `ordering` lists the positions in an order in which every output
depends only on earlier positions (slice 0 in the PixelCNN's raster order, then slices 1, 2, 3), so
utils.sampling.sample(model, n) and utils.checks work on it unchanged, one position at a time.

The exception: `model.sample(n, generator=...)` is the point of the model and is its own method.
utils.sampling.sample walks one position per step; here one step draws a whole slice, and that
cannot be said in the shared loop's protocol (one position, logits (n, K), per step). So
`MultiscaleModel.sample` draws slice 0 with utils.sampling.sample on the level-1 model (its cached
steps) and then each later slice with ONE evaluation of its network.
`generation_step` says at which sequential step each pixel is drawn; `sequential_evaluations`
counts those steps.

Hierarchical variant: the level-1 model may itself be a MultiscaleModel (pass it as `coarse`), e.g.
28 x 28 -> slice 0 at 14 x 14 -> its slice 0 at 7 x 7: 49 + 3 + 3 = 55 sequential evaluations.

Also here: `subscale_order`, the order of Subscale Pixel Networks (every slice in raster order, the
slices one after the other), and `plot_generation_order`, a picture of any such order on a grid.
"""
import math

import torch
from torch import nn

from ..ordering import model_order
from ..sampling import categorical_log_prob, choose_next, model_device
from ..sampling import sample as sample_one_position_at_a_time
from ..validation import check_discrete, check_positive_int, check_same_device
from .conditioning import no_condition
from .image_layers import check_image_shape, scale_input, to_channels_last
from .pixelcnn import PixelCNN


# ----------------------------------------------------------------------------------------------
# slices: the pixels at offset (i, j) of every f x f block


def to_slices(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C, H, W, ...) -> (N, f*f, C, H/f, W/f, ...): slice s = i*f + j is x[:, :, i::f, j::f]."""
    return torch.stack([x[:, :, i::factor, j::factor] for i in range(factor) for j in range(factor)], dim=1)


def from_slices(slices: torch.Tensor, factor: int) -> torch.Tensor:
    """The inverse of to_slices: (N, f*f, C, h, w, ...) -> (N, C, h*f, w*f, ...)."""
    n, _, channels, height, width, *rest = slices.shape
    x = slices.new_empty(n, channels, height * factor, width * factor, *rest)
    for s in range(factor * factor):
        i, j = divmod(s, factor)
        x[:, :, i::factor, j::factor] = slices[:, s]
    return x


def subscale_order(height: int, width: int, factor: int) -> torch.Tensor:
    """rank (height, width) long: the step at which Subscale Pixel Networks generate each pixel.

    The image is cut into f x f blocks; slice (i, j) holds the pixels with (row mod f, col mod f) =
    (i, j), a (height/f) x (width/f) image. The slices are generated one after the other, (0, 0),
    (0, 1), ..., (f-1, f-1), and each slice in raster order. So pixel (r, c) gets

        rank = slice * (h * w) + (r // f) * w + (c // f),   slice = (r mod f) * f + (c mod f),

    with h = height / f, w = width / f. E.g. 8 x 8 with f = 4: 16 slices of 2 x 2 pixels, and the
    first 4 steps draw a sparse 2 x 2 sketch of the whole image. rank.flatten().argsort() is the
    order (the flat positions in generation order) that utils.ordering takes.
    """
    for name, value in (("height", height), ("width", width), ("factor", factor)):
        check_positive_int(value, name)
    if height % factor or width % factor:
        raise ValueError(f"height and width must be multiples of factor: got {height} x {width} with factor {factor}")
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    slice_index = (rows % factor) * factor + cols % factor
    h, w = height // factor, width // factor
    return slice_index * (h * w) + (rows // factor) * w + cols // factor


def plot_generation_order(rank, title: str = "", factor: int | None = None, numbers: bool = True, ax=None):
    """A grid coloured by the generation step of each pixel, with the step written in each cell.

    rank: (H, W) numbers (e.g. subscale_order(8, 8, 4), or a MultiscaleModel's generation_step[0]).
    factor: draw the f x f blocks' borders. numbers: write the step in each cell (small grids).
    ax: draw into this matplotlib Axes (e.g. one panel of a row of pictures); default a new figure.
    Returns the matplotlib Figure (like utils.plotting's helpers).
    """
    import matplotlib.pyplot as plt
    rank = torch.as_tensor(rank).detach().cpu()
    if rank.dim() != 2:
        raise ValueError(f"rank must be one number per pixel, shape (H, W), got {tuple(rank.shape)}")
    height, width = rank.shape
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.45 * width + 1.2, 0.45 * height + 0.6))
    else:
        fig = ax.figure
    image = ax.imshow(rank.numpy(), cmap="viridis")
    if numbers:
        middle = (float(rank.max()) + float(rank.min())) / 2
        for r in range(height):
            for c in range(width):
                value = int(rank[r, c])
                ax.text(c, r, str(value), ha="center", va="center", fontsize=7,
                        color="black" if value > middle else "white")
    if factor:
        for k in range(factor, height, factor):
            ax.axhline(k - 0.5, color="white", lw=1.5)
        for k in range(factor, width, factor):
            ax.axvline(k - 0.5, color="white", lw=1.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="generation step")
    return fig


# ----------------------------------------------------------------------------------------------
# level 2: one slice from the earlier ones, every pixel at once


class SliceNet(nn.Module):
    """The logits of every pixel of slice s from slices 0 ... s-1, in one evaluation.

    An ordinary (unmasked) convolutional net at the slices' resolution: nothing in its input is
    unknown when slice s is drawn, so it may look at all of it, in every direction.
    (N, s*C, h, w) float (the earlier slices, values scaled to [-1, 1]) -> (N, C*K, h, w) logits.
    """

    def __init__(self, known_slices: int, channels: int, num_values: int, hidden_channels: int,
                 num_layers: int, kernel_size: int):
        super().__init__()
        layers = [nn.Conv2d(known_slices * channels, hidden_channels, kernel_size, padding=kernel_size // 2)]
        for _ in range(num_layers - 1):
            layers += [nn.ReLU(), nn.Conv2d(hidden_channels, hidden_channels, kernel_size, padding=kernel_size // 2)]
        layers += [nn.ReLU(), nn.Conv2d(hidden_channels, channels * num_values, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, known: torch.Tensor) -> torch.Tensor:
        return self.net(known)


# ----------------------------------------------------------------------------------------------
# the model


class MultiscaleModel(nn.Module):
    """Slice 0 (the image subsampled by `factor`) by a PixelCNN, then each later slice in one evaluation.

    image_shape: (C, H, W), H and W multiples of factor; num_values: K.
    factor: f, the block size: f*f slices of (H/f) x (W/f) pixels; sampling takes
        (H/f)(W/f)C sequential steps for slice 0 (with a PixelCNN) + f*f - 1 for the other slices.
    coarse: the model of slice 0, any model of the course's protocol with event_shape
        (C, H/f, W/f); default a PixelCNN(hidden_channels, coarse_layers, 5x5 type-A layer).
        Another MultiscaleModel makes a hierarchy of resolutions (module docstring).
    hidden_channels, slice_layers, kernel_size: the size of each SliceNet.
    forward: x (N, C, H, W) long -> logits (N, C, H, W, K); log_prob: x -> (N,) nats (exact).
    input_features / forward_features: the float seam for gradient pictures, as in PixelCNN.
    ordering: flat positions in an autoregressive order of the model (for utils.sampling.sample,
        which then draws one position per step, and utils.checks).
    generation_step: (C, H, W) long, the sequential step of `sample` that draws each value.
    sample(n, generator=None, ...): the parallel sampler, `sequential_evaluations` steps.
    """

    def __init__(self, image_shape, num_values: int, factor: int = 2, coarse: nn.Module | None = None,
                 hidden_channels: int = 32, coarse_layers: int = 4, slice_layers: int = 3, kernel_size: int = 3):
        super().__init__()
        self.image_shape = self.event_shape = check_image_shape(image_shape)
        self.num_values = check_positive_int(num_values, "num_values")
        self.factor = check_positive_int(factor, "factor")
        channels, height, width = self.image_shape
        if factor < 2:
            raise ValueError(f"factor must be at least 2 (factor 1 is the coarse model alone), got {factor}")
        if height % factor or width % factor:
            raise ValueError(f"the image's height and width must be multiples of factor={factor}, "
                             f"got {height} x {width}")
        coarse_shape = (channels, height // factor, width // factor)
        if coarse is None:
            coarse = PixelCNN(coarse_shape, num_values, hidden_channels, num_layers=coarse_layers,
                              first_kernel_size=5, kernel_size=3)
        if tuple(coarse.event_shape) != coarse_shape or coarse.num_values != num_values:
            raise ValueError(f"coarse must model the slices: event_shape {coarse_shape} and num_values {num_values}, "
                             f"got {tuple(coarse.event_shape)} and {coarse.num_values}")
        self.coarse = coarse
        self.slice_nets = nn.ModuleList(
            SliceNet(s, channels, num_values, hidden_channels, check_positive_int(slice_layers, "slice_layers"),
                     check_positive_int(kernel_size, "kernel_size"))
            for s in range(1, factor * factor))
        self.ordering = self._ordering()
        self.generation_step = self._generation_step()
        self.sequential_evaluations = int(self.generation_step.max()) + 1

    # ------------------------------------------------------------------------------------------
    # which pixel when

    def _slice_positions(self) -> torch.Tensor:
        """(f*f, C, h, w): the flat position in the full image of every value of every slice."""
        flat = torch.arange(math.prod(self.image_shape)).reshape(1, *self.image_shape)
        return to_slices(flat, self.factor)[0]

    def _ordering(self) -> torch.Tensor:
        """Slice 0 in the coarse model's order, then every later slice (pixel by pixel, channels in turn)."""
        positions = self._slice_positions()                                          # (f*f, C, h, w)
        first = positions[0].flatten()[model_order(self.coarse)]
        later = [positions[s].permute(1, 2, 0).flatten() for s in range(1, len(positions))]
        return torch.cat([first, *later])

    def _generation_step(self) -> torch.Tensor:
        """(C, H, W): slice 0 at the coarse model's steps, slice s >= 1 all at one step after them."""
        coarse_steps = getattr(self.coarse, "generation_step", None)
        if coarse_steps is None:                      # one position per step, in the coarse model's order
            coarse_steps = torch.empty(math.prod(self.coarse.event_shape), dtype=torch.long)
            coarse_steps[model_order(self.coarse)] = torch.arange(len(coarse_steps))
            coarse_steps = coarse_steps.reshape(self.coarse.event_shape)
        first_parallel_step = int(coarse_steps.max()) + 1
        steps = [coarse_steps] + [torch.full_like(coarse_steps, first_parallel_step + s - 1)
                                  for s in range(1, self.factor ** 2)]
        return from_slices(torch.stack(steps)[None], self.factor)[0]

    # ------------------------------------------------------------------------------------------
    # the protocol

    def input_features(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) long -> the float image the networks read, values scaled to [-1, 1]."""
        check_discrete(x, self.num_values, shape=self.image_shape)
        check_same_device(self, x)
        return scale_input(x, self.num_values, next(self.parameters()).dtype)

    def coarse_features(self, coarse_input: torch.Tensor) -> torch.Tensor:
        """Logits (N, C, h, w, K) of slice 0 from its float values (N, C, h, w) in [-1, 1]."""
        if hasattr(self.coarse, "forward_features"):
            return self.coarse.forward_features(coarse_input)
        values = ((coarse_input + 1) * max(self.num_values - 1, 1) / 2).round().long()   # no float seam: integers
        return self.coarse(values)

    def slice_logits(self, s: int, known: torch.Tensor) -> torch.Tensor:
        """Logits (N, C, h, w, K) of slice s >= 1 from the earlier slices (N, s, C, h, w) float, one evaluation."""
        return to_channels_last(self.slice_nets[s - 1](known.flatten(1, 2)), self.image_shape[0])

    def forward_features(self, features: torch.Tensor, condition=None) -> torch.Tensor:
        """Logits (N, C, H, W, K) as a differentiable function of the float image (N, C, H, W).

        forward(x) is forward_features(input_features(x)). Slice s >= 1 reads slices 0 ... s-1 only.
        """
        no_condition(condition)
        slices = to_slices(features, self.factor)                                    # (N, f*f, C, h, w)
        logits = [self.coarse_features(slices[:, 0])]
        logits += [self.slice_logits(s, slices[:, :s]) for s in range(1, self.factor ** 2)]
        return from_slices(torch.stack(logits, dim=1), self.factor)

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return self.forward_features(self.input_features(x), condition)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return categorical_log_prob(self(x, condition), x)

    # ------------------------------------------------------------------------------------------
    # parallel sampling: why this is not utils.sampling.sample, see the module docstring

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, *, temperature: float = 1.0,
               cached: bool = True) -> torch.Tensor:
        """Draw n images (n, C, H, W) long in `sequential_evaluations` sequential network evaluations.

        Slice 0 comes from the coarse model (its own parallel `sample` if it is a MultiscaleModel,
        else utils.sampling.sample, one position per evaluation, with its cached step when `cached`);
        then slice s = 1, ..., f*f - 1 from ONE evaluation of its SliceNet each: every pixel of the
        slice is drawn at once from its logits. Deterministic for a given torch.Generator.
        """
        check_positive_int(n, "n")
        was_training = self.training
        self.eval()
        try:
            if isinstance(self.coarse, MultiscaleModel):
                first = self.coarse.sample(n, generator, temperature=temperature, cached=cached)
            else:
                first = sample_one_position_at_a_time(self.coarse, n, generator=generator, temperature=temperature,
                                                      cached=cached)
            dtype = next(self.parameters()).dtype
            slices = [first.to(model_device(self))]
            for s in range(1, self.factor ** 2):
                known = scale_input(torch.stack(slices, dim=1), self.num_values, dtype)
                slices.append(choose_next(self.slice_logits(s, known), generator, temperature))
            return from_slices(torch.stack(slices, dim=1), self.factor)
        finally:
            self.train(was_training)
