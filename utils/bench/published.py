"""Published test NLLs of autoregressive image models, with their sources and the caveats that matter.

    python -m utils.bench.published          # prints the table (Markdown) and the caveats

    from utils.bench import published
    published.markdown("CIFAR-10")           # one dataset's rows as a Markdown table
    published.as_dataframe()                 # every row as a pandas DataFrame (pandas comes with mlxtend)

The figures are copied from the papers (test split; binarised MNIST as the negative log-likelihood in
nats per image, the others in bits per dimension). They are not comparable with the course's own
leaderboard in absolute terms: see CAVEATS.
"""
from .tables import markdown_table

UNITS = {"binarised MNIST": "nats/image", "CIFAR-10": "bits/dim", "ImageNet 32x32": "bits/dim",
         "ImageNet 64x64": "bits/dim"}

PIXEL_RNN = "van den Oord, Kalchbrenner & Kavukcuoglu, Pixel Recurrent Neural Networks, ICML 2016"
PIXELCNN_DECODERS = "van den Oord et al., Conditional Image Generation with PixelCNN Decoders, NeurIPS 2016"
STATIC = "static: binarised once (the fixed set of Salakhutdinov & Murray 2008 / Larochelle & Murray 2011)"

# (model, dataset, value, source, notes); the unit is UNITS[dataset]
RESULTS = [
    ("NADE", "binarised MNIST", 88.86, "Larochelle & Murray, The Neural Autoregressive Distribution Estimator, "
     "AISTATS 2011", STATIC),
    ("MADE (2 hidden layers, 32 masks, order-agnostic ensemble)", "binarised MNIST", 86.64,
     "Germain, Gregor, Murray & Larochelle, MADE: Masked Autoencoder for Distribution Estimation, ICML 2015", STATIC),
    ("PixelCNN", "binarised MNIST", 81.30, PIXEL_RNN, STATIC),
    ("PixelRNN (Diagonal BiLSTM, 1 layer, h=32)", "binarised MNIST", 80.75, PIXEL_RNN, STATIC),
    ("PixelRNN (Diagonal BiLSTM, 7 layers, h=16)", "binarised MNIST", 79.20, PIXEL_RNN, STATIC),
    ("PixelCNN", "CIFAR-10", 3.14, PIXEL_RNN, "the original PixelCNN (masked convolutions, blind spot)"),
    ("PixelRNN (Row LSTM)", "CIFAR-10", 3.07, PIXEL_RNN, ""),
    ("PixelRNN (Diagonal BiLSTM)", "CIFAR-10", 3.00, PIXEL_RNN, ""),
    ("Gated PixelCNN", "CIFAR-10", 3.03, PIXELCNN_DECODERS, "vertical + horizontal stacks, no blind spot"),
    ("PixelCNN++", "CIFAR-10", 2.92, "Salimans, Karpathy, Chen & Kingma, PixelCNN++, ICLR 2017",
     "discretised logistic mixture likelihood"),
    ("Image Transformer", "CIFAR-10", 2.90, "Parmar et al., Image Transformer, ICML 2018", "local self-attention"),
    ("PixelSNAIL", "CIFAR-10", 2.85, "Chen, Mishra, Rohaninejad & Abbeel, PixelSNAIL, ICML 2018",
     "gated convolutions + causal attention"),
    ("Sparse Transformer", "CIFAR-10", 2.80, "Child, Gray, Radford & Sutskever, Generating Long Sequences with "
     "Sparse Transformers, arXiv 2019", "strided sparse attention"),
    ("PixelRNN (Row LSTM)", "ImageNet 32x32", 3.86, PIXEL_RNN, "the paper's downsampled ImageNet"),
    ("Gated PixelCNN", "ImageNet 32x32", 3.83, PIXELCNN_DECODERS, "the downsampled ImageNet of PixelRNN"),
    ("PixelRNN (Row LSTM)", "ImageNet 64x64", 3.63, PIXEL_RNN, "the paper's downsampled ImageNet"),
    ("Gated PixelCNN", "ImageNet 64x64", 3.57, PIXELCNN_DECODERS, "the downsampled ImageNet of PixelRNN"),
    ("Sparse Transformer", "ImageNet 64x64", 3.44, "Child, Gray, Radford & Sutskever, Generating Long Sequences with "
     "Sparse Transformers, arXiv 2019", ""),
]

CAVEATS = [
    "Binarised MNIST comes in two kinds. Static: the grey images were binarised once, by sampling, and every "
    "paper uses that fixed set (all the MNIST rows here). Dynamic: a new binarisation is drawn every epoch, which "
    "acts as data augmentation and gives lower (better) test NLLs: do not compare numbers across the two.",
    "Our MNIST-5k is 5 000 digits (3 500 train / 500 validation / 1 000 test) thresholded at 128, at 14x14 "
    "(2x2 max-pooled) on the CPU scale; the papers use 50 000-60 000 training and the full 10 000 test digits at "
    "28x28. Thresholding gives cleaner images than sampling (lower NLL), less data gives higher NLL, and a "
    "14x14 image has a quarter of the dimensions: compare rankings, never absolute numbers.",
    "Units: the MNIST figures are nats per image (-log p(x) of a whole 28x28 image); nats/dim = that / 784 and "
    "bits/dim = nats/dim / ln 2 (81.3 nats/image is 0.104 nats/dim, 0.150 bits/dim). CIFAR-10 and ImageNet "
    "figures are bits per sub-pixel (3 x 32 x 32 or 3 x 64 x 64 values of 256 levels).",
    "One well-known lecture slide lists 3.03 bits/dim on CIFAR-10 as \"PixelCNN\": 3.03 is the Gated PixelCNN "
    "(van den Oord et al., NeurIPS 2016); the original PixelCNN (ICML 2016) has 3.14.",
    "The ImageNet 32x32 and 64x64 rows use the downsampled ImageNet of the PixelRNN paper; the later "
    "'Imagenet32/64' of Chrabaszcz et al. (2017) is downsampled differently, so its numbers are not the same task.",
    "Published models trained for days on GPUs; ours train for seconds on one CPU thread. The ranking at a tiny "
    "budget can differ from the ranking at convergence.",
]


def rows(dataset: str | None = None) -> list[dict]:
    """The table as dicts (model, dataset, metric, value, source, notes), optionally one dataset's rows."""
    if dataset is not None and dataset not in UNITS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of: {', '.join(UNITS)}")
    return [dict(model=model, dataset=name, metric=f"test NLL, {UNITS[name]}", value=value, source=source,
                 notes=notes)
            for model, name, value, source, notes in RESULTS if dataset in (None, name)]


def as_dataframe(dataset: str | None = None):
    """The table (or one dataset's rows) as a pandas DataFrame."""
    import pandas as pd
    return pd.DataFrame(rows(dataset))


def markdown(dataset: str | None = None) -> str:
    """The table (or one dataset's rows) as a Markdown table, best first within each dataset."""
    ordered = sorted(rows(dataset), key=lambda r: (list(UNITS).index(r["dataset"]), r["value"]))
    columns = ["model", "dataset", "metric", "value", "source", "notes"]
    return markdown_table(columns, [[r[c] if c != "value" else f"{r['value']:.2f}" for c in columns]
                                    for r in ordered], align="lllrll")


def main() -> None:
    print(markdown())
    print("Caveats:")
    for caveat in CAVEATS:
        print(f"- {caveat}")


if __name__ == "__main__":
    main()
