"""Generated video for the Video Pixel Network section of lecture 08: small shapes that move and bounce.

Every clip is `num_frames` binary frames of size x size pixels. One or two small shapes (a square, a
disc, a cross) start at random places, each with its own constant velocity (up to 2 pixels per frame
in each direction), and bounce off the walls (the velocity component flips when a shape would leave
the frame). Nothing is downloaded; the same arguments always give the same clips and the same
train / validation / test split:

    >>> data = moving_shapes()
    >>> data.train.shape, data.num_values           # (N, T, H, W) long, values {0, 1}
    (torch.Size([2000, 8, 12, 12]), 2)
    >>> plt.imshow(clip_strips(data.test[:4]), cmap="gray_r")    # one clip per row, time to the right

What the structure buys: the first frame is a picture like any other (where are the shapes?), but a
later frame is almost determined by the two before it (same shapes, shifted by the velocity those
two frames show). `nats_per_frame` measures exactly that, frame by frame.
"""
import numpy as np
import torch

from .data import Dataset, split_last
from .validation import check_positive_int

VIDEO_SEED = 2017          # Kalchbrenner et al., Video Pixel Networks

SPRITES = {                # the shapes, as small 0/1 arrays
    "square": np.ones((3, 3), dtype=np.int64),
    "disc": np.array([[0, 1, 1, 0],
                      [1, 1, 1, 1],
                      [1, 1, 1, 1],
                      [0, 1, 1, 0]]),
    "cross": np.array([[0, 0, 1, 0, 0],
                       [0, 0, 1, 0, 0],
                       [1, 1, 1, 1, 1],
                       [0, 0, 1, 0, 0],
                       [0, 0, 1, 0, 0]]),
}
SPEEDS = (-2, -1, 0, 1, 2)  # velocity components, pixels per frame (never both 0: every shape moves)


def _bounce(position: int, velocity: int, highest: int) -> tuple[int, int]:
    """One step of a coordinate in [0, highest] that reflects off both walls."""
    position += velocity
    if position < 0:
        position, velocity = -position, -velocity
    elif position > highest:
        position, velocity = 2 * highest - position, -velocity
    return position, velocity


def draw_clips(n: int, num_frames: int = 8, size: int = 12, max_shapes: int = 2,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """n clips (n, num_frames, size, size) of 0/1 int64: 1 to max_shapes bouncing shapes each (module docstring)."""
    rng = np.random.default_rng(VIDEO_SEED) if rng is None else rng
    sprites = list(SPRITES.values())
    clips = np.zeros((n, num_frames, size, size), dtype=np.int64)
    for clip in clips:
        for _ in range(int(rng.integers(1, max_shapes + 1))):
            sprite = sprites[int(rng.integers(len(sprites)))]
            height, width = sprite.shape
            row, col = int(rng.integers(0, size - height + 1)), int(rng.integers(0, size - width + 1))
            velocity = (0, 0)
            while velocity == (0, 0):
                velocity = tuple(int(v) for v in rng.choice(SPEEDS, size=2))
            v_row, v_col = velocity
            for frame in clip:
                frame[row:row + height, col:col + width] |= sprite
                row, v_row = _bounce(row, v_row, size - height)
                col, v_col = _bounce(col, v_col, size - width)
    return clips


def _new_clips(n: int, seen: set, rng: np.random.Generator, **sizes) -> np.ndarray:
    """n clips none of which is in `seen` nor repeated (drawn again until so); adds them to `seen`."""
    kept = []
    while len(kept) < n:
        for clip in draw_clips(n - len(kept), rng=rng, **sizes):
            if clip.tobytes() not in seen:
                seen.add(clip.tobytes())
                kept.append(clip)
    return np.stack(kept)


def moving_shapes(n_train: int = 2000, n_valid: int = 500, n_test: int = 500, *, num_frames: int = 8,
                  size: int = 12, max_shapes: int = 2) -> Dataset:
    """The moving-shapes videos: a Dataset with train / validation / test clips (N, T, H, W) long in {0, 1}.

    Seeded: every call with the same arguments returns the same clips. No clip occurs twice (a
    repeated draw is drawn again), so the splits are disjoint. Train and test are drawn first and
    validation last, so changing n_valid leaves the other two splits as they were.
    """
    for name, value in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test),
                        ("num_frames", num_frames), ("max_shapes", max_shapes)):
        check_positive_int(value, name)
    if check_positive_int(size, "size") < 5:
        raise ValueError(f"size must be at least 5 so that every shape fits in a frame, got {size}")
    rng = np.random.default_rng(VIDEO_SEED)
    sizes, seen = dict(num_frames=num_frames, size=size, max_shapes=max_shapes), set()
    train_and_test = _new_clips(n_train + n_test, seen, rng, **sizes)
    validation = _new_clips(n_valid, seen, rng, **sizes)
    train, test = train_and_test[:n_train], train_and_test[n_train:]
    clips = torch.from_numpy(np.concatenate([train, validation, test]))
    return split_last("moving_shapes", clips, None, n_valid, n_test, 2,
                      f"{num_frames}-frame {size}x{size} binary videos of 1-{max_shapes} bouncing shapes "
                      f"({', '.join(SPRITES)})")


def clip_strips(clips: torch.Tensor, gap: int = 1) -> np.ndarray:
    """Clips (n, T, H, W) -> one float picture (n (H + gap) - gap, T (W + gap) - gap) for imshow.

    One clip per row, its frames left to right in time; pixels are 0/1, the gaps between frames 0.5.
    """
    clips = torch.as_tensor(clips)
    if clips.dim() != 4:
        raise ValueError(f"clips must have shape (n, T, H, W), got {tuple(clips.shape)}")
    n, frames, height, width = clips.shape
    picture = np.full((n * (height + gap) - gap, frames * (width + gap) - gap), 0.5)
    for i, clip in enumerate(clips.cpu().numpy()):
        for t, frame in enumerate(clip):
            top, left = i * (height + gap), t * (width + gap)
            picture[top:top + height, left:left + width] = frame
    return picture


@torch.no_grad()
@torch.no_grad()
def nats_per_frame(model: torch.nn.Module, clips: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
    """(T,) average negative log-likelihood of each frame of `clips` (n, T, H, W), in nats per frame.

    Uses the model's `log_prob_per_frame` (n, T); the T numbers sum to the model's nats per clip.
    Divide by H * W for nats/dim of each frame.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, len(clips), batch_size):
        total = total - model.log_prob_per_frame(clips[start:start + batch_size].to(device)).double().sum(0).cpu()
    model.train(was_training)
    return total / len(clips)
