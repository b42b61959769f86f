"""A model's NLL is a code length: binarised MNIST test digits compressed by the pretrained MADE and a
range coder (utils.coding), next to PNG, gzip, bz2 and lzma on the same images.

    python -m utils.bench.compression                  # 200 test digits
    python -m utils.bench.compression --images 1000

Prints bits per pixel for every method, the coder's overhead over the model's NLL (its ideal code
length), and checks the round trip. The generic compressors get the images packed 8 pixels per
byte (and PNG one 1-bit picture of all of them stacked), their best case.
"""
import argparse
import time

import numpy as np
import torch

from .. import coding, pretrained
from ..anomaly import code_length_bits
from ..data import load


def generic_bits(images: np.ndarray) -> dict:
    """Bits used by PNG, gzip, bz2 and lzma for binary images (N, H, W) of 0/1, all in one file each."""
    return {label: code_length_bits(images, method) for label, method in
            (("PNG (one 1-bit picture)", "png"), ("gzip -9", "gzip"), ("bz2 -9", "bz2"), ("lzma (xz)", "lzma"))}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200, help="test digits to compress")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    x = load("mnist_binary").test[:args.images].flatten(1)
    num_pixels = x.numel()
    model = pretrained.load("made_mnist")
    started = time.perf_counter()
    words = coding.encode(model, x)
    encode_seconds = time.perf_counter() - started
    started = time.perf_counter()
    round_trip = torch.equal(coding.decode(model, words, len(x)), x)
    decode_seconds = time.perf_counter() - started
    ideal = coding.information_content_bits(model, x)
    coded = coding.code_length_bits(words)

    results = {"MADE NLL (ideal code length)": ideal, "MADE + range coder": coded,
               **generic_bits(x.reshape(-1, 28, 28).numpy())}
    print(f"{len(x)} binarised MNIST test digits, {num_pixels} pixels (raw: 1 bit per pixel)")
    print(f"{'method':30s} {'bits':>9s} {'bits/pixel':>11s} {'bits/digit':>11s}")
    for method, bits in results.items():
        print(f"{method:30s} {bits:9.0f} {bits / num_pixels:11.4f} {bits / len(x):11.1f}")
    print(f"range coder over the NLL: +{coded - ideal:.0f} bits ({100 * (coded - ideal) / ideal:.2f} %); "
          f"round trip exact: {round_trip}; encode {encode_seconds:.1f} s, decode {decode_seconds:.1f} s")
    return dict(results, round_trip=round_trip, overhead=(coded - ideal) / ideal)


if __name__ == "__main__":
    main()
