"""Do (row, column) position inputs help sequence models on raster-scanned images?

    python -m utils.bench.positions                    # 60 CPU seconds per model on mnist_binary
    python -m utils.bench.positions --seconds 20 --dataset digits
    python -m utils.bench.positions --seconds 30 --seeds 0 1 2    # three seeds: mean and lowest-highest

A recurrent model (GRU) and a WaveNet, each with and without position inputs, trained for the same
CPU time on the same mini-batches (utils.train.fit with cpu_seconds: time.process_time, one torch
thread by default). Prints test nats/dim (utils.metrics.evaluate, not counted) and nats per image.
"""

import torch

from ..data import load
from ..metrics import evaluate
from ..models.rnn import AutoregressiveRNN
from ..models.wavenet import WaveNet
from ..runtime import seed_everything
from ..train import fit
from .budget import budget_arguments, fit_options, print_results, result_row


def build_models(image_shape: tuple, num_values: int, hidden: int) -> dict:
    """The contestants, by display name; each pair differs only in the position inputs."""
    dilations = (1, 2, 4, 8, 16, 32)
    models = {}
    for positions in (False, True):
        shape = image_shape if positions else None
        suffix = "with positions" if positions else "no positions"
        models[f"GRU {hidden}, {suffix}"] = AutoregressiveRNN(num_values, hidden, image_shape=shape)
        models[f"WaveNet R=64, {suffix}"] = WaveNet(num_values, dilations, channels=hidden // 2, image_shape=shape)
    return models


def main(argv=None) -> list[dict]:
    parser = budget_arguments(__doc__.splitlines()[0], batch_size=32)
    parser.add_argument("--dataset", default="mnist_binary", help="a single-channel image dataset from utils.data")
    parser.add_argument("--hidden", type=int, default=64, help="GRU hidden size (WaveNet gets half as channels)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = load(args.dataset)
    if data.train.dim() != 4 or data.shape[0] != 1:
        raise SystemExit(f"{args.dataset!r} is not a single-channel image dataset (N, 1, H, W)")
    train, test = data.train.flatten(1), data.test.flatten(1)   # raster order
    print(f"{data.name}: {tuple(data.train.shape)} raster-scanned to {tuple(train.shape)}, K={data.num_values}; "
          f"{args.seconds:g} CPU s per model, {torch.get_num_threads()} threads, batch {args.batch_size}")
    rows = []
    for seed in args.seeds:
        seed_everything(seed)
        for name, model in build_models(data.shape[1:], data.num_values, args.hidden).items():
            history = fit(model, train, None, **fit_options(args, seed))
            rows.append(result_row(name, model, history, evaluate(model, test), seed))
    print_results(rows, train.shape[1])
    return rows


if __name__ == "__main__":
    main()
