"""PixelCNN sampling: naive (a full forward pass per sub-pixel) vs Fast PixelCNN caching.

    python -m utils.bench.fast_pixelcnn                       # 14x14 and 28x28 binary images
    python -m utils.bench.fast_pixelcnn --hidden 64 --layers 7  # the lecture's "gpu"-sized model

An untrained PixelCNN of the lecture's size (utils.models.PixelCNN: 7x7 type-A layer, 3x3 residual
blocks; by default 32 channels and 3 layers, lecture 06's digit model at SCALE = "cpu") generates the
same images both ways (utils.sampling.sample with cached=True and cached=False, the same
torch.Generator seed); the script checks that they are identical and prints wall-clock milliseconds
per generated image and the speed-up. A naive step runs the network over all H x W pixels, so its
cost grows with the image (the total with its square); a cached step (Ramachandran et al., 2017)
computes every layer at one pixel, the same cost at any size. At 14x14 the gap is modest: the
naive forward pass over 196 pixels is a few small convolutions, and a cached step pays the same
fixed costs (Python, the sampling loop's draw) as a naive one. It takes a few seconds on one CPU thread.
"""
import argparse
import time

import torch

from ..models.pixelcnn import PixelCNN
from ..sampling import sample


def timed_sample(model: PixelCNN, n: int, seed: int, cached: bool) -> tuple[torch.Tensor, float]:
    """(samples, wall-clock seconds) of one sample() call with a generator seeded with `seed`."""
    start = time.perf_counter()
    x = sample(model, n, generator=torch.Generator().manual_seed(seed), cached=cached)
    return x, time.perf_counter() - start


def compare(size: int, args) -> dict:
    """Build the model for size x size images, time both ways, check the samples are identical, print one line."""
    torch.manual_seed(args.seed)
    model = PixelCNN((1, size, size), 2, hidden_channels=args.hidden, num_layers=args.layers,
                     first_kernel_size=7, kernel_size=3).eval()
    with torch.no_grad():                         # sharper logits, so that a wrong cache would change the draws
        model.output[-1].weight.mul_(10)
    cached, cached_seconds = timed_sample(model, args.samples, args.seed, cached=True)
    naive, naive_seconds = timed_sample(model, args.samples, args.seed, cached=False)
    identical = torch.equal(cached, naive)
    row = dict(size=size, steps=size * size, samples=args.samples,
               naive_ms_per_image=1e3 * naive_seconds / args.samples,
               cached_ms_per_image=1e3 * cached_seconds / args.samples,
               speedup=naive_seconds / cached_seconds, identical=identical)
    print(f"{f'{size}x{size}':>7} {size * size:>6} {args.samples:>7} {row['naive_ms_per_image']:>15.1f} "
          f"{row['cached_ms_per_image']:>16.1f} {row['speedup']:>8.1f}x {str(identical):>9}", flush=True)
    return row


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[14, 28], help="image heights = widths")
    parser.add_argument("--samples", type=int, default=4, help="images generated at once")
    parser.add_argument("--hidden", type=int, default=32, help="channels of every hidden layer")
    parser.add_argument("--layers", type=int, default=3, help="masked k x k layers (type A + residual blocks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 1 keeps timings steady on a busy machine")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    params = sum(p.numel() for p in PixelCNN((1, 2, 2), 2, hidden_channels=args.hidden,
                                             num_layers=args.layers).parameters())
    print(f"PixelCNN: {args.hidden} channels, {args.layers} layers (7x7 type A, 3x3 blocks), binary images, "
          f"~{params:,} parameters; untrained; CPU, {torch.get_num_threads()} thread(s); wall-clock")
    print(f"{'image':>7} {'steps':>6} {'samples':>7} {'naive ms/image':>15} {'cached ms/image':>16} "
          f"{'speed-up':>9} {'identical':>9}")
    rows = [compare(size, args) for size in args.sizes]
    print("ms/image: the time of one sample() call divided by the images it generates at once")
    if not all(row["identical"] for row in rows):
        raise SystemExit("cached and naive sampling disagree")
    return rows


if __name__ == "__main__":
    main()
