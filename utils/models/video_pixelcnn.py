"""A small Video Pixel Network (Kalchbrenner et al., 2017): frames one pixel at a time, given the past frames.

A video x of T frames of H x W pixels is modelled with the chain rule in time, then in space:

    p(x) = prod_t prod_i p(x_t,i | x_<t, x_t,<i)        t: frame, i: pixel in raster order

Generation order: frame by frame, and inside a frame row by row, left to right (flat position
t*H*W + r*W + c, so the order is simply 0, 1, 2, ...).

Two parts, as in the paper (which uses much larger ones):

  * a *decoder*: a PixelCNN over one frame (utils.models.pixelcnn's masked convolutions and residual
    blocks), so pixel i of frame t sees only the pixels before it in the same frame;
  * a *context encoder*: a plain (unmasked) convolution net over the previous `context_frames` frames.
    Those frames are fully known when frame t is generated, so the encoder may look at every one of
    their pixels, also those below and to the right. Its features enter every decoder layer as a
    per-pixel bias (a 1x1 convolution per layer), like the class bias of a conditional PixelCNN, but
    different at every pixel. Frames before the start of the video are all zeros; pixels are scaled
    to [-1, 1], so a binary video's real frames (-1 and +1) never are, and "no past yet" is visible.

The paper's encoder is a convolutional LSTM over all earlier frames; two frames are enough here,
since two frames show where a shape is and where it is going. With condition_on_past=False the
encoder is switched off: every frame is then modelled on its own by the same decoder (the per-frame
baseline), and the gap between the two is what the past is worth.

Shapes: x (N, T, H, W) long in [0, K); forward -> logits (N, T, H, W, K); log_prob -> (N,) nats;
log_prob_per_frame -> (N, T) nats. Sample with utils.sampling.sample(model, n) (the model states its
event shape (T, H, W) and its order). A cached step (start_cache / cached_step) runs only the frame
being drawn: the same numbers as the full forward at 1/T of the cost.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import categorical_log_prob
from ..validation import check_discrete, check_positive_int, check_same_device
from .conditioning import no_condition
from .image_layers import MaskedConv2d, scale_input
from .pixelcnn import ResidualBlock


class VideoPixelCNN(nn.Module):
    """A PixelCNN decoder per frame, conditioned on the previous frames by a convolutional encoder.

    video_shape: (T, H, W), the event shape; num_values: K.
    hidden_channels, num_layers, first_kernel_size, kernel_size: the decoder, as in PixelCNN (one
        type-A layer, then num_layers - 1 residual blocks of type-B convolutions).
    context_frames: how many previous frames the encoder reads; encoder_kernel_size, encoder_layers:
        its plain convolutions (receptive field 1 + encoder_layers * (encoder_kernel_size - 1)).
    condition_on_past: False switches the encoder off: the per-frame baseline.
    forward_features: the seam for gradient pictures (a float video in [-1, 1] -> logits).
    """

    def __init__(self, video_shape, num_values: int = 2, hidden_channels: int = 32, num_layers: int = 4,
                 first_kernel_size: int = 5, kernel_size: int = 3, context_frames: int = 2,
                 encoder_kernel_size: int = 5, encoder_layers: int = 2, condition_on_past: bool = True):
        super().__init__()
        if not isinstance(video_shape, (tuple, list)) or len(video_shape) != 3:
            raise ValueError(f"video_shape must be (frames, height, width), got {video_shape!r}")
        for name, size in zip(("frames", "height", "width"), video_shape):
            check_positive_int(size, f"video_shape {name}")
        self.video_shape = self.event_shape = tuple(video_shape)
        self.num_values = check_positive_int(num_values, "num_values")
        self.context_frames = check_positive_int(context_frames, "context_frames")
        self.condition_on_past = bool(condition_on_past)
        num_blocks = check_positive_int(num_layers, "num_layers") - 1
        # the decoder: a PixelCNN over one frame
        self.input_conv = MaskedConv2d(1, hidden_channels, first_kernel_size, "A")
        self.blocks = nn.ModuleList(ResidualBlock(hidden_channels, kernel_size, 1, None) for _ in range(num_blocks))
        self.output = nn.Sequential(nn.ReLU(), MaskedConv2d(hidden_channels, hidden_channels, 1, "B"),
                                    nn.ReLU(), MaskedConv2d(hidden_channels, num_values, 1, "B"))
        # the context encoder over the previous frames, and its per-pixel bias for every decoder layer
        self.encoder = None
        if self.condition_on_past:
            layers, channels = [], context_frames
            for _ in range(check_positive_int(encoder_layers, "encoder_layers")):
                layers += [nn.Conv2d(channels, hidden_channels, encoder_kernel_size, padding=encoder_kernel_size // 2),
                           nn.ReLU()]
                channels = hidden_channels
            self.encoder = nn.Sequential(*layers)
            self.context_biases = nn.ModuleList(nn.Conv2d(hidden_channels, hidden_channels, 1)
                                                for _ in range(num_blocks + 1))

    @property
    def ordering(self) -> torch.Tensor:
        """Frame by frame, raster order inside a frame: flat positions 0, 1, 2, ... (utils.ordering)."""
        frames, height, width = self.video_shape
        return torch.arange(frames * height * width)

    # ------------------------------------------------------------------------------------------
    # the two parts

    def past_frames(self, features: torch.Tensor) -> torch.Tensor:
        """The encoder's input: (N, T, H, W) float video -> (N, T, context_frames, H, W).

        Channel k of frame t is frame t - 1 - k, or zeros before the video starts.
        """
        n, frames, height, width = features.shape
        padded = torch.cat([features.new_zeros(n, self.context_frames, height, width), features], dim=1)
        start = self.context_frames
        return torch.stack([padded[:, start - 1 - k:start - 1 - k + frames] for k in range(self.context_frames)], 2)

    def context_biases_of(self, past: torch.Tensor) -> list:
        """What the encoder adds to the decoder: past (B, context_frames, H, W) -> a list of (B, hidden, H, W)
        per-pixel biases, added after the type-A layer and after every residual block; Nones for the baseline."""
        if self.encoder is None:
            return [None] * (len(self.blocks) + 1)
        context = self.encoder(past)                                        # (B, hidden, H, W)
        return [to_bias(context) for to_bias in self.context_biases]

    def decode_frames(self, frames: torch.Tensor, biases: list) -> torch.Tensor:
        """Logits (B, K, H, W) of B frames (B, 1, H, W) float, given their context biases (context_biases_of).

        The masked decoder sees only earlier pixels of its own frame; the biases carry the past frames.
        """
        h = self.input_conv(frames)
        for block, bias in zip(self.blocks, biases):
            h = block(h if bias is None else h + bias)
        if biases[-1] is not None:
            h = h + biases[-1]
        return self.output(h)

    # ------------------------------------------------------------------------------------------
    # the protocol

    def input_features(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, T, H, W) long -> the float video the model reads, values scaled to [-1, 1]."""
        check_discrete(x, self.num_values, shape=self.video_shape)
        check_same_device(self, x)
        return scale_input(x, self.num_values, self.input_conv.weight.dtype)

    def forward_features(self, features: torch.Tensor, condition=None) -> torch.Tensor:
        """Logits (N, T, H, W, K) as a differentiable function of the float video (N, T, H, W).

        All T frames at once: frame t is decoded with frames t-1, t-2, ... of the *input* as its past
        (teacher forcing), so one pass gives every conditional of the chain rule.
        """
        no_condition(condition)
        n, frames, height, width = features.shape
        past = self.past_frames(features).reshape(n * frames, self.context_frames, height, width)
        logits = self.decode_frames(features.reshape(n * frames, 1, height, width), self.context_biases_of(past))
        return logits.reshape(n, frames, self.num_values, height, width).permute(0, 1, 3, 4, 2)

    def forward(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        no_condition(condition)
        return self.forward_features(self.input_features(x))

    def log_prob_per_frame(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        """(N, T): log p(x_t | x_<t) of every frame, in nats (they sum to log_prob)."""
        logits = self(x, condition)
        n, frames = x.shape[:2]
        return categorical_log_prob(logits.reshape(n * frames, *logits.shape[2:]),
                                    x.reshape(n * frames, *x.shape[2:])).reshape(n, frames)

    def log_prob(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return categorical_log_prob(self(x, condition), x)

    # ------------------------------------------------------------------------------------------
    # a cheaper sampling step: only the frame being drawn

    def start_cache(self, n: int, condition=None) -> dict:
        """What the cached steps keep: the step expected next and the current frame's context biases."""
        no_condition(condition)
        return {"next_step": 0, "biases": None}

    def cached_step(self, x: torch.Tensor, step: int, cache: dict, condition=None) -> torch.Tensor:
        """Logits (n, K) of position `step` (frame step // (H W), pixel step % (H W) in raster order).

        Runs the decoder on that frame only: what forward computes for that frame, without the T - 1
        others. The encoder runs once per frame, at its first pixel, when its past frames are final.
        """
        frames, height, width = self.video_shape
        if step != cache["next_step"]:
            raise ValueError(f"cached_step takes the steps 0, 1, 2, ... in order: expected step {cache['next_step']}, "
                             f"got {step} (start a new cache with start_cache to begin again)")
        cache["next_step"] += 1
        t, pixel = divmod(step, height * width)
        row, col = divmod(pixel, width)
        features = self.input_features(x)[:, :t + 1]                        # the frames up to frame t
        if pixel == 0:
            cache["biases"] = self.context_biases_of(self.past_frames(features)[:, t])
        logits = self.decode_frames(features[:, t:t + 1], cache["biases"])  # (n, K, H, W)
        return logits[:, :, row, col]
