"""WaveNet sampling: naive (rerun the network on the prefix every step) vs cached (per-layer queues).

    python -m utils.bench.wavenet_cache                     # 2048 steps, receptive field 2047, full naive run
    python -m utils.bench.wavenet_cache --naive-steps 512   # time naive (and cached) on the first 512 steps only

An untrained WaveNet (kernel 2, dilations 1, 2, ..., 512 twice: receptive field 2047) generates the
same sequences both ways (utils.sampling.sample with cached=True and cached=False) from the same
torch.Generator; the script checks that they are identical and
prints wall-clock times and the speed-up. The naive cost grows with the prefix (quadratic in total),
the cached cost is the same at every step (linear in total). With --naive-steps both are timed over
that shorter prefix, and the table says so: nothing is extrapolated.
"""
import argparse
import time

import torch

from ..models.wavenet import WaveNet
from ..sampling import sample


def timed_sample(model: WaveNet, n: int, length: int, seed: int, cached: bool) -> tuple[torch.Tensor, float]:
    """(samples (n, length), wall-clock seconds) for one run from a generator seeded with `seed`."""
    start = time.perf_counter()
    x = sample(model, n, length=length, generator=torch.Generator().manual_seed(seed), cached=cached)
    return x, time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=2048, help="values generated per sequence")
    parser.add_argument("--naive-steps", type=int, default=None,
                        help="time both paths on this many first steps only (default: the full length)")
    parser.add_argument("--samples", type=int, default=4, help="sequences generated at once")
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--num-values", type=int, default=256, help="K, e.g. 256 for 8-bit audio")
    parser.add_argument("--repeats", type=int, default=2, help="stacks of dilations 1, 2, ..., 512")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 keeps timings steady on a busy machine")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    dilations = [2 ** i for i in range(10)] * args.repeats
    model = WaveNet(args.num_values, dilations, kernel_size=2, channels=args.channels).eval()
    with torch.no_grad():                         # sharper logits, so a wrong cache would change samples
        model.head_output.weight.mul_(10)
    steps = min(args.naive_steps or args.length, args.length)
    params = sum(p.numel() for p in model.parameters())
    print(f"WaveNet: kernel 2, dilations 1..512 x {args.repeats} ({len(dilations)} blocks), receptive field "
          f"{model.receptive_field}, {args.channels} channels, K={args.num_values}, {params:,} parameters")
    print(f"generating {args.samples} sequences x {steps} steps on CPU, {torch.get_num_threads()} thread(s)"
          + ("" if steps == args.length else f" (prefix of the {args.length}-step task; no extrapolation)"))

    cached, cached_seconds = timed_sample(model, args.samples, steps, args.seed, cached=True)
    print(f"  cached: {cached_seconds:8.2f} s  ({1e3 * cached_seconds / steps:.2f} ms/step)", flush=True)
    naive, naive_seconds = timed_sample(model, args.samples, steps, args.seed, cached=False)
    print(f"  naive:  {naive_seconds:8.2f} s  ({1e3 * naive_seconds / steps:.2f} ms/step on average)")
    identical = torch.equal(cached, naive)
    speedup = naive_seconds / cached_seconds
    print(f"  samples identical: {identical}")
    print(f"  speed-up over {steps} steps: {speedup:.1f}x")
    if not identical:
        raise SystemExit("cached and naive sampling disagree")
    return dict(steps=steps, cached_seconds=cached_seconds, naive_seconds=naive_seconds, speedup=speedup,
                identical=identical, receptive_field=model.receptive_field)


if __name__ == "__main__":
    main()
