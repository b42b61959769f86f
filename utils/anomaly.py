"""Likelihood for anomaly detection, honestly: why a high likelihood does not mean "in-distribution",
and the complexity correction that repairs much of it.

    in_scores  = -model.log_prob(digits)                 # (N,) nats; higher = more anomalous
    out_scores = -model.log_prob(blank)                  # (M,)
    auroc(in_scores, out_scores)                         # ~0: blank images look *more* normal than digits
    corrected = complexity_corrected_score(model.log_prob(x), compressor_bits(x, "png"))   # Serrà et al.

Nalisnick et al. (2019), "Do deep generative models know what they don't know?": a likelihood model
can give simple out-of-distribution inputs a higher likelihood than its own test set.
Serrà et al. (2020), "Input complexity and out-of-distribution detection with likelihood-based
generative models": subtract a generic compressor's code length L(x) from the model's code length
-log2 p(x); what is left measures how much *worse* the model does than a model of nothing in
particular, S(x) = -log2 p(x) - L(x).

Convention everywhere here: a score is "how anomalous", higher = more anomalous; AUROC is the
probability that a random out-of-distribution image scores higher than a random in-distribution one
(1 = perfect detector, 0.5 = chance, 0 = perfectly backwards).

Every image set here is binary, (N, 1, S, S) int64 with values {0, 1}, S = 28 (the MADE) or 14 (the
PixelCNN: 2 x 2 max-pool, as utils.pretrained prepares its data), built offline and deterministically.
"""
import bz2
import gzip
import io
import lzma
import math

import numpy as np
import torch
import torch.nn.functional as F

from .data import DEBIAN_FASHION_MNIST, load

LN2 = math.log(2.0)

# ----------------------------------------------------------------------------------------------
# scores and their AUROC


def auroc(in_scores, out_scores) -> float:
    """Area under the ROC curve for telling out-of-distribution inputs from in-distribution ones.

    in_scores: (N,) scores of in-distribution inputs; out_scores: (M,) of out-of-distribution inputs.
    Higher score = more anomalous (so pass -log p(x), never log p(x)). Ties count one half.
    Returns P(out > in) + P(out == in) / 2 for a random pair: 1 perfect, 0.5 chance, 0 backwards.
    """
    in_scores, out_scores = _numpy(in_scores).ravel(), _numpy(out_scores).ravel()
    if len(in_scores) == 0 or len(out_scores) == 0:
        raise ValueError("auroc needs at least one in-distribution and one out-of-distribution score")
    from sklearn.metrics import roc_auc_score
    labels = np.concatenate([np.zeros(len(in_scores)), np.ones(len(out_scores))])   # 1 = out of distribution
    return float(roc_auc_score(labels, np.concatenate([in_scores, out_scores])))


def nll_bits(log_prob_nats) -> torch.Tensor:
    """(N,) log-likelihoods in nats (model.log_prob) -> (N,) code lengths -log2 p(x) in bits."""
    return -torch.as_tensor(log_prob_nats, dtype=torch.float64) / LN2


def complexity_corrected_score(log_prob_nats, complexity_bits) -> torch.Tensor:
    """Serrà et al.'s score S(x) = -log2 p(x) - L(x), in bits per image; higher = more anomalous.

    log_prob_nats: (N,) log p(x) in nats, as model.log_prob returns it.
    complexity_bits: (N,) L(x), a generic compressor's code length of the same images in bits
        (compressor_bits). Divide S by the number of pixels for bits/dim; AUROC is the same either way
        when every image has the same size.
    S is a log-likelihood ratio, log2 p0(x) / p(x) with p0(x) = 2^-L(x) the compressor's implied
    "model of any image": an image that is simple for everybody (low L) no longer looks normal just
    because the model also finds it cheap. Constant overhead in L (file headers) shifts every score
    equally and changes no AUROC.
    """
    complexity = torch.as_tensor(_numpy(complexity_bits), dtype=torch.float64)
    bits = nll_bits(log_prob_nats)
    if bits.shape != complexity.shape:
        raise ValueError(f"log_prob_nats {tuple(bits.shape)} and complexity_bits {tuple(complexity.shape)} "
                         "must hold one value per image each")
    return bits - complexity


# ----------------------------------------------------------------------------------------------
# a generic compressor's code length: the "complexity" L(x)

def _packed(images: np.ndarray) -> bytes:
    """Binary pixels, 8 per byte (the last byte zero-padded): the compressors' best case."""
    return np.packbits(images.astype(np.uint8).reshape(-1)).tobytes()


def _png(images: np.ndarray) -> bytes:
    """One 1-bit PNG of the image(s) stacked vertically: (H, W) or (N, H, W) -> file bytes."""
    from PIL import Image
    picture = io.BytesIO()
    Image.fromarray(images.reshape(-1, images.shape[-1]).astype(bool)).save(picture, format="PNG", optimize=True)
    return picture.getvalue()


LZMA_FILTER = {"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 20}
COMPRESSORS = {   # method -> binary image(s) as a NumPy array -> the compressed file's bytes
    "png": _png,
    "gzip": lambda images: gzip.compress(_packed(images), compresslevel=9, mtime=0),
    "bz2": lambda images: bz2.compress(_packed(images), compresslevel=9),
    # xz at preset 9, but with a 1 MiB dictionary instead of 64 MiB: the same code length for any input
    # under 1 MiB, without allocating 64 MiB for every tiny image (a 50x slow-down, one image at a time)
    "lzma": lambda images: lzma.compress(_packed(images), filters=[LZMA_FILTER]),
}


def code_length_bits(images, method: str = "png") -> int:
    """Bits of ONE compressed file holding binary image(s) (H, W) or (N, H, W) of 0/1.

    method: "png" (1-bit PNG, images stacked vertically), "gzip", "bz2" or "lzma" (xz; -9 each, on the
    pixels packed 8 per byte). Headers included: this is what a file on disk would cost.
    """
    if method not in COMPRESSORS:
        raise ValueError(f"unknown compressor {method!r}; choose one of: {', '.join(COMPRESSORS)}")
    images = _numpy(images)
    if images.size and not np.isin(images, (0, 1)).all():
        raise ValueError("compressor code lengths here are for binary images (values 0 and 1)")
    return 8 * len(COMPRESSORS[method](images))


def compressor_bits(images, method: str = "png") -> np.ndarray:
    """(N,) code length in bits of each image compressed on its own: the complexity L(x).

    images: (N, 1, H, W) or (N, H, W) binary, tensor or array; method as in code_length_bits.
    """
    images = _numpy(images)
    images = images.reshape(len(images), *images.shape[-2:])
    return np.array([code_length_bits(image, method) for image in images], dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# image sets, all (N, 1, size, size) int64 in {0, 1}, size 28 or 14

SIZES = (28, 14)   # the MADE's 28 x 28, the PixelCNN's 14 x 14


def _check_size(size: int) -> int:
    if size not in SIZES:
        raise ValueError(f"size must be 28 or 14 (the in-distribution digits' sizes), got {size!r}")
    return size


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 1, 28, 28) -> (N, 1, size, size): size 14 keeps the brightest pixel of each 2 x 2 block."""
    return images if _check_size(size) == 28 else F.max_pool2d(images.float(), 2).long()


def mnist_test_digits(n: int | None = None, size: int = 28) -> torch.Tensor:
    """The first n binarised MNIST-5k test digits (utils.data "mnist_binary"): the in-distribution set."""
    return _resize(load("mnist_binary").test[:n], size)


def shape_images(n: int, size: int = 28) -> torch.Tensor:
    """n test images of the course's 20 x 20 "shapes" (squares, discs, triangles, crosses), centred on a
    28 x 28 canvas with a 4-pixel margin (how MNIST itself centred its 20 x 20 digits)."""
    shapes = load("shapes") if n <= 1000 else load("shapes", n_test=n)   # the latter a different (fixed) draw
    return _resize(F.pad(shapes.test[:n], (4, 4, 4, 4)), size)


def blank_images(n: int, size: int = 28, max_on: int = 8, seed: int = 0) -> torch.Tensor:
    """n blank or near-blank images: image i has between 0 and max_on pixels on, at random places
    (some specks of dust on an empty page); image 0 is always completely blank."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, _check_size(size) ** 2), dtype=np.int64)
    for image in images[1:]:
        image[rng.choice(size * size, size=int(rng.integers(0, max_on + 1)), replace=False)] = 1
    return torch.from_numpy(images).view(n, 1, size, size)


def noise_images(n: int, size: int = 28, density: float = 0.5, seed: int = 0) -> torch.Tensor:
    """n images of independent coin flips, each pixel on with probability `density`."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy((rng.random((n, 1, _check_size(size), size)) < density).astype(np.int64))


def fashion_mnist_available() -> bool:
    """True if Debian's dataset-fashion-mnist files are installed (the only offline source)."""
    return (DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").exists()


def fashion_images(n: int, size: int = 28) -> torch.Tensor:
    """The first n Fashion-MNIST test images, thresholded at 128 like the digits (utils.data).

    Offline only from Debian's dataset-fashion-mnist package: raises FileNotFoundError if it is not
    installed (check fashion_mnist_available() first). Loading it reads 70 000 images: a few seconds.
    """
    if not fashion_mnist_available():
        raise FileNotFoundError(f"Fashion-MNIST is not in {DEBIAN_FASHION_MNIST} "
                                "(apt install dataset-fashion-mnist); this set is optional")
    return _resize(load("fashion_mnist").test[:n], size)


def image_sets(n: int, size: int = 28, fashion: bool | None = None) -> dict:
    """{name: (n, 1, size, size)} the in-distribution "MNIST test" digits first, then every
    out-of-distribution set: shapes, blank, noise and (if installed, or if fashion=True) Fashion-MNIST."""
    sets = {"MNIST test": mnist_test_digits(n, size), "shapes": shape_images(n, size),
            "blank": blank_images(n, size), "noise": noise_images(n, size)}
    if fashion or (fashion is None and fashion_mnist_available()):
        sets["Fashion-MNIST"] = fashion_images(n, size)
    return sets


# ----------------------------------------------------------------------------------------------
# the likelihood models

@torch.no_grad()
def label_marginal_log_prob(model: torch.nn.Module, x: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """(N,) log p(x) = log (1/C) sum_y p(x | y) in nats for a class-conditional model: x (N, ...)."""
    per_label = torch.stack([model.log_prob(x, torch.full((len(x),), label, dtype=torch.long, device=x.device))
                             for label in range(num_classes)])
    return torch.logsumexp(per_label, dim=0) - math.log(num_classes)


@torch.no_grad()
def log_prob(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """(N,) log p(x) in nats of images (N, 1, S, S), on the model's device, batch by batch: a flat
    model (MADE) gets (N, S*S); a class-conditional one (num_classes set) is marginalised over labels."""
    device = next(model.parameters()).device
    flat = getattr(model, "num_inputs", None) is not None
    conditional = getattr(model, "num_classes", None)
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device)
        batch = batch.flatten(1) if flat else batch
        out.append((label_marginal_log_prob(model, batch, conditional) if conditional else model.log_prob(batch)).cpu())
    return torch.cat(out).double()


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)
