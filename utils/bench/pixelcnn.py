"""PixelCNN, Gated PixelCNN and an image transformer trained for the same CPU time; prints test nats/dim and nats/image.

    python -m utils.bench.pixelcnn                        # 60 CPU seconds per model on mnist_binary
    python -m utils.bench.pixelcnn --seconds 20 --dataset shapes
    python -m utils.bench.pixelcnn --seconds 30 --seeds 0 1 2    # three seeds: mean and lowest-highest

Both models are trained by utils.train.fit on the same shuffled mini-batches and stop at the first
step after their budget of CPU seconds (time.process_time; one torch thread by default, so that
other programs on the machine matter little). Evaluation on the test split (utils.metrics.evaluate)
is not counted.
"""

import torch

from ..data import load
from ..metrics import evaluate
from ..models.gated_pixelcnn import GatedPixelCNN
from ..models.pixelcnn import PixelCNN
from ..models.transformer import Transformer
from ..runtime import seed_everything
from ..train import fit
from .budget import budget_arguments, fit_options, print_results, result_row


def build_models(image_shape: tuple, num_values: int, hidden: int) -> dict:
    """The contestants, by display name (the table prints their parameter counts)."""
    return {
        "PixelCNN (7x7 A, 4 blocks 3x3)": PixelCNN(image_shape, num_values, hidden, num_layers=5),
        "Gated PixelCNN (5 layers 3x3)": GatedPixelCNN(image_shape, num_values, hidden, num_layers=5, kernel_size=3),
        "Transformer (d 32, 2 layers, fused)": Transformer(num_values, image_shape=image_shape, d_model=32, num_heads=4,
                                                           num_layers=2, positions="row_column", fused=True),
    }


def main(argv=None) -> list[dict]:
    parser = budget_arguments(__doc__.splitlines()[0], batch_size=32)
    parser.add_argument("--dataset", default="mnist_binary", help="an image dataset from utils.data")
    parser.add_argument("--hidden", type=int, default=30, help="hidden channels (a multiple of the colour channels)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = load(args.dataset)
    if data.train.dim() != 4:
        raise SystemExit(f"{args.dataset!r} is not an image dataset (N, C, H, W)")
    num_dims = data.train[0].numel()
    print(f"{data.name}: train {tuple(data.train.shape)}, test {tuple(data.test.shape)}, K={data.num_values}; "
          f"{args.seconds:g} CPU s per model, {torch.get_num_threads()} threads, Adam lr={args.lr:g}, "
          f"batch {args.batch_size}")
    rows = []
    for seed in args.seeds:
        seed_everything(seed)
        for name, model in build_models(data.shape, data.num_values, args.hidden).items():
            history = fit(model, data.train, None, **fit_options(args, seed))
            rows.append(result_row(name, model, history, evaluate(model, data.test), seed))

    print_results(rows, num_dims)
    return rows


if __name__ == "__main__":
    main()
