"""Transformer sampling: naive (the full forward pass at every position) vs a KV cache.

    python -m utils.bench.kv_cache                    # binary 28x28 images (784 tokens) and names (12 tokens)
    python -m utils.bench.kv_cache --hand-written      # utils.models.attention.attention instead of the fused kernel

Two untrained, CPU-sized transformers (utils.models.Transformer) generate the same samples both ways
(utils.sampling.sample with cached=True and cached=False, the same torch.Generator seed); the script
checks that the samples are identical and prints wall-clock times per step (one token for each of
the n samples at once) and in total, and the speed-up. The naive step reruns all T tokens through
every layer (cost grows with T, quadratic attention included); the cached step runs one token and
attends to the stored keys, so the naive/cached ratio grows with the length: large for 784 tokens,
small for 12, where the fixed cost of a step (Python, small matrix products) dominates both.
Both paths use F.scaled_dot_product_attention by default (the fastest attention on CPU, so the
naive baseline is not handicapped); the default run takes about 1.5 minutes on one CPU thread.
"""
import argparse
import time

import torch

from ..models.transformer import Transformer
from ..sampling import sample


def timed_sample(model: Transformer, n: int, seed: int, cached: bool) -> tuple[torch.Tensor, float]:
    """(samples, wall-clock seconds) of one sample() call with a generator seeded with `seed`."""
    start = time.perf_counter()
    x = sample(model, n, generator=torch.Generator().manual_seed(seed), cached=cached)
    return x, time.perf_counter() - start


def compare(name: str, model: Transformer, n: int, seed: int) -> dict:
    """Time both ways on one task, check the samples are identical, print one line."""
    with torch.no_grad():                     # sharper logits, so that a wrong cache would change the draws
        model.head.weight.mul_(10)
    steps = model.context_length
    cached, cached_seconds = timed_sample(model, n, seed, cached=True)
    naive, naive_seconds = timed_sample(model, n, seed, cached=False)
    identical = torch.equal(cached, naive)
    row = dict(task=name, tokens=steps, samples=n, naive_seconds=naive_seconds, cached_seconds=cached_seconds,
               speedup=naive_seconds / cached_seconds, identical=identical)
    print(f"{name:<28} {steps:>6} {n:>7} {1e3 * naive_seconds / steps:>9.2f} {naive_seconds:>8.2f} "
          f"{1e3 * cached_seconds / steps:>10.2f} {cached_seconds:>9.2f} {row['speedup']:>8.1f}x {str(identical):>9}",
          flush=True)
    return row


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2, help="images generated at once")
    parser.add_argument("--name-samples", type=int, default=64, help="names generated at once")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hand-written", action="store_true",
                        help="the hand-written attention (slower: the naive run takes several minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 1 keeps timings steady on a busy machine")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    sizes = dict(d_model=args.d_model, num_heads=args.heads, num_layers=args.layers, fused=not args.hand_written)
    torch.manual_seed(args.seed)
    tasks = {"binary 28x28 images": (Transformer(2, image_shape=(1, 28, 28), **sizes), args.samples),
             "names (12 tokens, K=27)": (Transformer(27, length=12, **sizes), args.name_samples)}
    params = sum(p.numel() for p in tasks["binary 28x28 images"][0].parameters())
    print(f"Transformer: d_model {args.d_model}, {args.heads} heads, {args.layers} layers, "
          f"{'hand-written' if args.hand_written else 'fused'} attention, ~{params:,} parameters; untrained; "
          f"CPU, {torch.get_num_threads()} thread(s); wall-clock")
    print(f"{'task':<28} {'tokens':>6} {'samples':>7} {'naive ms/step':>9} {'naive s':>8} "
          f"{'cached ms/step':>10} {'cached s':>9} {'speed-up':>9} {'identical':>9}")
    rows = [compare(name, model.eval(), n, args.seed) for name, (model, n) in tasks.items()]
    print("ms/step: one token for each of the samples at once (one step of utils.sampling.sample)")
    if not all(row["identical"] for row in rows):
        raise SystemExit("cached and naive sampling disagree")
    return rows


if __name__ == "__main__":
    main()
