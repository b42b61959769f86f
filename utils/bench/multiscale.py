"""Raster PixelCNN vs the two-level multiscale model on the same CPU budget: test nats/dim vs sequential steps.

    python -m utils.bench.multiscale                          # 20 CPU seconds per model, seed 0
    python -m utils.bench.multiscale --seconds 20 --seeds 0 1 2
    python -m utils.bench.multiscale --dataset digits --seconds 2     # 8x8 digits: a quick try

Data: binary MNIST-5k digits at 14 x 14 (each pixel the brightest of a 2 x 2 block, as lectures 06
and 07 use them), or another image dataset of utils.data with even height and width (28 x 28 ones
are halved the same way). Both models are trained by utils.train.fit on the same shuffled mini-batches and
stop at the first step after their budget of CPU seconds (one torch thread by default); the test
split is scored once, at the end (utils.metrics.evaluate, not counted in the budget).

The second table is about sampling: the sequential network evaluations one sample needs (196 for
the raster PixelCNN, one per pixel; 49 + 3 for the multiscale model: a PixelCNN over the 7 x 7
subsampled image, then three slices of 49 pixels, each in one evaluation) and the wall-clock time to
draw 16 images (both with their cached PixelCNN steps, utils.sampling.sample). For scale it also
shows the model with every pixel independent (its per-pixel frequencies on the training split, no
network and no sequential step): what is lost when nothing is sequential.
"""
import math
import time

import torch
import torch.nn.functional as F

from ..data import load
from ..metrics import evaluate
from ..models.multiscale import MultiscaleModel
from ..models.pixelcnn import PixelCNN
from ..runtime import seed_everything
from ..sampling import sample
from ..train import fit
from .budget import budget_arguments, fit_options, print_results, result_row


def image_splits(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """train / validation / test images of a utils.data dataset, 28 x 28 halved to 14 x 14 (the brightest
    pixel of each 2 x 2 block), and K."""
    data = load(name)
    if data.train.dim() != 4 or data.train.shape[2] % 2 or data.train.shape[3] % 2:
        raise SystemExit(f"{name!r} is not an image dataset (N, C, H, W) with even height and width")
    halve = (lambda x: F.max_pool2d(x.float(), 2).long()) if data.train.shape[2:] == (28, 28) else (lambda x: x)
    return (*(halve(split) for split in (data.train, data.validation, data.test)), data.num_values)


def build_models(image_shape: tuple, num_values: int, hidden: int) -> dict:
    """The two contestants, by display name: one sequential step per pixel, or (H/2)(W/2) + 3."""
    return {
        "PixelCNN, raster (7x7 A, 4 blocks 3x3)": PixelCNN(image_shape, num_values, hidden, num_layers=5),
        "Multiscale (coarse PixelCNN + 3 slice nets)": MultiscaleModel(image_shape, num_values, hidden_channels=hidden,
                                                                        coarse_layers=5, slice_layers=3),
    }


def sequential_evaluations(model) -> int:
    """Network evaluations one sample needs, one after the other."""
    return getattr(model, "sequential_evaluations", None) or math.prod(model.event_shape)


def time_sampling(model, n: int, seed: int) -> float:
    """Wall-clock seconds to draw n images (the model's own parallel sampler where it has one)."""
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    if isinstance(model, MultiscaleModel):
        model.sample(n, generator)
    else:
        sample(model, n, generator=generator)
    return time.perf_counter() - start


def independent_pixels_nats(train: torch.Tensor, test: torch.Tensor, num_values: int) -> float:
    """Test nats/dim of the model with independent pixels: each pixel's value frequencies on train, +1 smoothed."""
    counts = F.one_hot(train, num_values).double().sum(0) + 1                    # (C, H, W, K)
    log_p = (counts / counts.sum(-1, keepdim=True)).log()
    return float(-log_p.gather(-1, test.movedim(0, -1)).mean())


def main(argv=None) -> list[dict]:
    parser = budget_arguments(__doc__.splitlines()[0], batch_size=32)
    parser.set_defaults(seconds=20)
    parser.add_argument("--dataset", default="mnist_binary", help="an image dataset from utils.data")
    parser.add_argument("--hidden", type=int, default=30, help="hidden channels of every network")
    parser.add_argument("--samples", type=int, default=16, help="images drawn at once for the sampling time")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    train, valid, test, num_values = image_splits(args.dataset)
    num_dims = train[0].numel()
    print(f"{args.dataset} at {'x'.join(map(str, train.shape[2:]))}: train {tuple(train.shape)}, test "
          f"{tuple(test.shape)}; {args.seconds:g} CPU s per model, {torch.get_num_threads()} threads, "
          f"Adam lr={args.lr:g}, batch {args.batch_size}")
    rows, sampling = [], {}
    for seed in args.seeds:
        seed_everything(seed)
        for name, model in build_models(tuple(train.shape[1:]), num_values, args.hidden).items():
            history = fit(model, train, None, **fit_options(args, seed))
            row = result_row(name, model, history, evaluate(model, test), seed)
            row.update(sequential_evaluations=sequential_evaluations(model),
                       sample_seconds=time_sampling(model, args.samples, seed))
            rows.append(row)
            sampling.setdefault(name, []).append(row)

    print_results(rows, num_dims)
    independent = independent_pixels_nats(train, test, num_values)
    print(f"\n{'model':44s} {'sequential evaluations':>22s} {'nats/dim':>9s} "
          f"{f'seconds to sample {args.samples}':>20s}")
    for name, runs in sampling.items():
        mean = lambda key: sum(run[key] for run in runs) / len(runs)
        print(f"{name:44s} {runs[0]['sequential_evaluations']:22d} {mean('nats_per_dim'):9.4f} "
              f"{mean('sample_seconds'):20.3f}")
    print(f"{'independent pixels (frequencies, no network)':44s} {0:22d} {independent:9.4f} {'-':>20s}")
    return rows


if __name__ == "__main__":
    main()
