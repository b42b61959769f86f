"""FVSBN, NADE and MADE trained for the same CPU time; prints test nats/dim and nats/image.

    python -m utils.bench.made                       # 60 CPU seconds per model on mnist_binary
    python -m utils.bench.made --seconds 20 --dataset shapes
    python -m utils.bench.made --seconds 30 --seeds 0 1 2    # three seeds: mean and lowest-highest

Every model is trained by utils.train.fit on the same shuffled mini-batches and stops at the first
step after its budget of CPU seconds (time.process_time, so other programs on the machine matter
less than with a wall clock; one torch thread by default, because idle threads spinning while they
wait for a busy core also count as CPU time). Evaluation (utils.metrics.evaluate) is not counted.
The order-agnostic MADE moves to its next mask set before every step (counted) and is scored as
the ensemble of its mask sets, and with its first mask set alone. Images are flattened in raster
order, (N, 1, H, W) -> (N, H*W).
"""
import torch

from ..data import load
from ..metrics import evaluate
from ..models.fvsbn import FVSBN
from ..models.made import MADE
from ..models.nade import NADE
from ..runtime import seed_everything
from ..train import fit
from .budget import budget_arguments, fit_options, print_results, result_row


def build_models(num_inputs: int, num_values: int, hidden: int, masks: int) -> dict:
    """The contestants, by display name."""
    return {
        "FVSBN": FVSBN(num_inputs, num_values),
        f"NADE (H={hidden // 4})": NADE(num_inputs, hidden // 4, num_values),
        f"MADE [{hidden}], 1 mask": MADE(num_inputs, [hidden], num_values),
        f"MADE [{hidden}], {masks} masks": MADE(num_inputs, [hidden], num_values, ordering="random", num_masks=masks),
    }


def main(argv=None) -> list[dict]:
    parser = budget_arguments(__doc__.splitlines()[0], batch_size=100)
    parser.add_argument("--dataset", default="mnist_binary", help="a name from utils.data (mnist_binary, shapes, ...)")
    parser.add_argument("--hidden", type=int, default=500, help="MADE hidden width (NADE gets a quarter)")
    parser.add_argument("--masks", type=int, default=8, help="mask sets of the order-agnostic MADE")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = load(args.dataset)
    train, test = data.train.flatten(1), data.test.flatten(1)
    num_inputs = train.shape[1]
    print(f"{data.name}: train {tuple(train.shape)}, test {tuple(test.shape)}, K={data.num_values}; "
          f"{args.seconds:g} CPU s per model, {torch.get_num_threads()} threads, Adam lr={args.lr:g}")
    rows = []
    for seed in args.seeds:
        seed_everything(seed)
        for name, model in build_models(num_inputs, data.num_values, args.hidden, args.masks).items():
            if isinstance(model, MADE) and model.num_masks > 1:
                history = fit(model, train, None, **fit_options(args, seed),
                              before_step=lambda step, model=model: model.set_mask(step % model.num_masks))
                ensemble = evaluate(model, test, log_prob=model.ensemble_log_prob)
                rows.append(result_row(name, model, history, ensemble, seed))
                model.set_mask(0)
                rows.append(result_row("  (same, one mask only)", model, history, evaluate(model, test), seed))
            else:
                history = fit(model, train, None, **fit_options(args, seed))
                rows.append(result_row(name, model, history, evaluate(model, test), seed))
    print_results(rows, num_inputs)
    return rows


if __name__ == "__main__":
    main()
