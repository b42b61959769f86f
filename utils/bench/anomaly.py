"""Likelihood for anomaly detection: the pretrained MADE (binarised MNIST-5k) scores its own test digits
and out-of-distribution images; AUROC of the raw likelihood and of the complexity-corrected score.

    python -m utils.bench.anomaly                      # 500 images per set, MADE at 28 x 28
    python -m utils.bench.anomaly --images 1000
    python -m utils.bench.anomaly --pixelcnn           # also the class-conditional PixelCNN at 14 x 14 (slower)

For every set: mean bits/dim under the model, mean PNG bits/dim, and AUROC against the MNIST test
digits (higher score = more anomalous; 1 = perfect, 0.5 = chance, 0 = backwards) of
  raw        -log p(x)                          (Nalisnick et al. 2019: simple images look *more* normal)
  corrected  S(x) = -log2 p(x) - L(x)           (Serrà et al. 2020), L from each generic compressor.
Fashion-MNIST joins when Debian's dataset-fashion-mnist is installed, and is skipped (said so) otherwise.
"""
import argparse
import time

import torch

from .. import pretrained
from ..anomaly import (COMPRESSORS, auroc, complexity_corrected_score, compressor_bits, fashion_mnist_available,
                       image_sets, log_prob, nll_bits)

IN_DISTRIBUTION = "MNIST test"


def score_sets(model: torch.nn.Module, sets: dict, compressors=tuple(COMPRESSORS)) -> dict:
    """{set name: dict(log_prob (N,) nats, bits (N,) = -log2 p, complexity {method: (N,) bits})}."""
    scored = {}
    for name, images in sets.items():
        lp = log_prob(model, images)
        scored[name] = dict(log_prob=lp, bits=nll_bits(lp),
                            complexity={method: compressor_bits(images, method) for method in compressors})
    return scored


def auroc_table(scored: dict, num_pixels: int) -> list[dict]:
    """One row per set: mean bits/dim (model, PNG), raw AUROC and corrected AUROC per compressor."""
    reference = scored[IN_DISTRIBUTION]
    rows = []
    for name, s in scored.items():
        row = dict(set=name, bits_per_dim=float(s["bits"].mean()) / num_pixels,
                   png_bits_per_dim=float(s["complexity"]["png"].mean()) / num_pixels if "png" in s["complexity"] else None)
        if name != IN_DISTRIBUTION:
            row["raw"] = auroc(reference["bits"], s["bits"])
            for method, complexity in s["complexity"].items():
                row[method] = auroc(complexity_corrected_score(reference["log_prob"], reference["complexity"][method]),
                                    complexity_corrected_score(s["log_prob"], complexity))
        rows.append(row)
    return rows


def print_table(rows: list[dict], title: str) -> None:
    methods = [key for key in rows[-1] if key in COMPRESSORS]
    print(title)
    print(f"{'set':14s} {'bits/dim':>9s} {'PNG b/dim':>10s} {'AUROC raw':>10s} "
          + " ".join(f"{'S ' + m:>9s}" for m in methods))
    for row in rows:
        aurocs = " ".join(f"{row[m]:9.3f}" if m in row else f"{'-':>9s}" for m in methods)
        raw = f"{row['raw']:10.3f}" if "raw" in row else f"{'-':>10s}"
        print(f"{row['set']:14s} {row['bits_per_dim']:9.4f} {row['png_bits_per_dim']:10.4f} {raw} {aurocs}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500, help="images per set")
    parser.add_argument("--pixelcnn", action="store_true", help="also the conditional PixelCNN at 14 x 14")
    parser.add_argument("--pixelcnn-images", type=int, default=200, help="images per set for the PixelCNN")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not fashion_mnist_available():
        print("Fashion-MNIST: skipped (Debian's dataset-fashion-mnist is not installed; the other sets are offline)")

    results = {}
    started = time.perf_counter()
    sets = image_sets(args.images, 28)
    results["made"] = auroc_table(score_sets(pretrained.load("made_mnist"), sets), 28 * 28)
    print_table(results["made"], f"pretrained MADE, 28 x 28, {args.images} images per set "
                                 f"({time.perf_counter() - started:.1f} s); AUROC vs {IN_DISTRIBUTION}")
    if args.pixelcnn:
        started = time.perf_counter()
        sets = image_sets(args.pixelcnn_images, 14)
        results["pixelcnn"] = auroc_table(score_sets(pretrained.load("pixelcnn_mnist_conditional"), sets), 14 * 14)
        print()
        print_table(results["pixelcnn"], f"pretrained class-conditional PixelCNN, 14 x 14, p(x) = mean over the 10 "
                                         f"labels of p(x | y), {args.pixelcnn_images} images per set "
                                         f"({time.perf_counter() - started:.1f} s)")
    print("raw = AUROC of -log p(x); S <compressor> = AUROC of -log2 p(x) - L(x) with L that compressor's "
          "bits for the image alone (1 = perfect, 0.5 = chance, 0 = backwards)")
    return results


if __name__ == "__main__":
    main()
