"""FVSBN, NADE and MADE trained for the same CPU time; prints test nats/dim and nats/image.

    python -m utils.bench.made                       # 60 CPU seconds per model on mnist_binary
    python -m utils.bench.made --seconds 20 --dataset shapes

Every model sees the same shuffled mini-batches and stops at the first step after its budget of
CPU seconds (time.process_time, so other programs on the machine matter less than with a wall
clock; one torch thread by default, because idle threads spinning while they wait for a busy core
also count as CPU time). Evaluation is not counted. Images are flattened in raster
order, (N, 1, H, W) -> (N, H*W).
"""
import math

import torch

from ..data import load
from ..models.fvsbn import FVSBN
from ..models.made import MADE
from ..models.nade import NADE
from ..runtime import seed_everything
from .budget import budget_arguments, train_for_cpu_seconds


def build_models(num_inputs: int, num_values: int, hidden: int, masks: int) -> dict:
    """The contestants, by display name."""
    return {
        "FVSBN": FVSBN(num_inputs, num_values),
        f"NADE (H={hidden // 4})": NADE(num_inputs, hidden // 4, num_values),
        f"MADE [{hidden}], 1 mask": MADE(num_inputs, [hidden], num_values),
        f"MADE [{hidden}], {masks} masks": MADE(num_inputs, [hidden], num_values, ordering="random", n_masks=masks),
    }


@torch.no_grad()
def test_nats_per_dim(model: torch.nn.Module, test: torch.Tensor, **log_prob_options) -> float:
    model.eval()
    return float(-torch.cat([model.log_prob(batch, **log_prob_options) for batch in test.split(500)]).mean()
                 / test.shape[1])


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
    seed_everything(args.seed)
    for name, model in build_models(num_inputs, data.num_values, args.hidden, args.masks).items():
        steps, epochs = train_for_cpu_seconds(model, train, args.seconds, args.batch_size, args.lr, args.seed)
        nats = test_nats_per_dim(model, test)
        rows.append(dict(model=name, params=sum(p.numel() for p in model.parameters()), steps=steps,
                         epochs=epochs, nats_per_dim=nats))
        if isinstance(model, MADE) and model.n_masks > 1:
            model.set_mask(0)
            rows.append(dict(model="  (same, one mask only)", params=rows[-1]["params"], steps=steps,
                             epochs=epochs, nats_per_dim=test_nats_per_dim(model, test, ensemble=False)))

    print(f"\n{'model':28s} {'params':>9s} {'steps':>6s} {'epochs':>6s} {'nats/dim':>9s} {'bits/dim':>9s} "
          f"{'nats/image':>10s}")
    for row in rows:
        print(f"{row['model']:28s} {row['params']:9,d} {row['steps']:6d} {row['epochs']:6.1f} "
              f"{row['nats_per_dim']:9.4f} {row['nats_per_dim'] / math.log(2):9.4f} "
              f"{row['nats_per_dim'] * num_inputs:10.1f}")
    return rows


if __name__ == "__main__":
    main()
