"""Small plotting helpers. Each returns its matplotlib Figure so notebooks can show or save it."""
import matplotlib.pyplot as plt
import numpy as np
import torch


def _numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def plot_training_curves(history, title: str = "", unit: str = "nats/dim"):
    """Train loss per step and validation loss at the end of each epoch, on one axis.

    The validation loss is measured only at epoch ends, so it is drawn as points (joined from epoch 1
    on), not as a line from the loss before training: on a run of one or two epochs such a line would
    suggest a curve that was never measured. The loss before training (epoch 0) is given in the
    legend, and the y axis leaves out the first steps' large losses so the end of training is readable.
    """
    train, valid = _numpy(history.train_losses), _numpy(history.valid_losses)
    steps_per_epoch = len(train) / max(len(valid) - 1, 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(len(train)), train, label="train (each step)", alpha=0.8)
    if len(valid) > 1:
        epochs = np.arange(1, len(valid))
        ax.plot(epochs * steps_per_epoch, valid[1:], "o-", color="C1",
                label=f"validation (end of each epoch; before training {valid[0]:.3g})")
        shown = np.concatenate([train[len(train) // 20:], valid[1:]])
        low, high = shown.min(), shown.max()
        ax.set_ylim(low - 0.05 * (high - low + 1e-9), high + 0.15 * (high - low + 1e-9))
    ax.set_xlabel("training step")
    ax.set_ylabel(f"negative log-likelihood ({unit})")
    ax.set_title(title or (f"final validation loss {valid[-1]:.4f} {unit}" if len(valid)
                           else f"final train loss {train[-1]:.4f} {unit}"))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_distribution_1d(data, model_probs=None, num_values: int | None = None, title: str = "",
                         true_probs=None, data_label: str = "data frequencies"):
    """Histogram of data (N,) as bars, with the model's probabilities (K,) (and the truth) as lines.

    data_label: the legend of the bars, e.g. "sample frequencies" when data are a model's samples.
    """
    data = _numpy(data)
    num_values = num_values or (len(model_probs) if model_probs is not None else int(data.max()) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    counts = np.bincount(data, minlength=num_values) / len(data)
    ax.bar(np.arange(num_values), counts, width=1.0, alpha=0.4, label=data_label)
    if true_probs is not None:
        ax.plot(np.arange(num_values), _numpy(true_probs), "k--", lw=1, label="true distribution")
    if model_probs is not None:
        ax.plot(np.arange(num_values), _numpy(model_probs), "C3.-", label="model")
    ax.set_xlabel("x")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_joint_2d(true_density, learned_density, samples=None, title: str = ""):
    """Side by side heat maps of a (K, K) data density and a learned one, plus samples (n, 2)."""
    panels = [("data density", _numpy(true_density)), ("learned p(x1) p(x2|x1)", _numpy(learned_density))]
    fig, axes = plt.subplots(1, 3 if samples is not None else 2, figsize=(10 if samples is not None else 7, 3.4))
    for ax, (name, table) in zip(axes, panels):
        ax.imshow(table, cmap="magma")
        ax.set_title(name)
        ax.set_xlabel("x2")
        ax.set_ylabel("x1")
    if samples is not None:
        samples = _numpy(samples)
        size = panels[0][1].shape[0]
        axes[2].scatter(samples[:, 1], samples[:, 0], s=2, alpha=0.3)
        axes[2].set_xlim(-0.5, size - 0.5)
        axes[2].set_ylim(size - 0.5, -0.5)
        axes[2].set_aspect("equal")
        axes[2].set_title(f"{len(samples)} samples")
        axes[2].set_xlabel("x2")
        axes[2].set_ylabel("x1")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_grid(images, num_values: int, nrow: int = 8, pad: int = 1) -> np.ndarray:
    """Tile images (N, C, H, W) with values in [0, K) into one float array in [0, 1] for imshow.

    The tiling is torchvision's `make_grid`, with a grey border of `pad` pixels around each image.
    """
    from torchvision.utils import make_grid
    images = torch.as_tensor(_numpy(images))
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    channels = images.shape[1]
    grid = make_grid(images.double() / max(num_values - 1, 1), nrow=min(nrow, len(images)), padding=pad, pad_value=0.5)
    return grid[0].numpy() if channels == 1 else grid.permute(1, 2, 0).numpy()


def plot_samples(images, num_values: int, nrow: int = 8, title: str = "", scale: float = 0.6):
    """A grid of image samples (N, C, H, W) with values in [0, K)."""
    grid = image_grid(images, num_values, nrow)
    fig, ax = plt.subplots(figsize=(scale * min(nrow, len(images)) + 0.5, scale * grid.shape[0] / grid.shape[1]
                                    * min(nrow, len(images)) + 0.6))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
