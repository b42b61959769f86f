"""Reference models. Each follows the course's model protocol (utils.sampling explains it): integer
input in [0, K); forward(x, condition=None) -> logits per position; log_prob -> (N,) nats; an event
shape and a generation order; sampling with utils.sampling.sample(model, n).

Two models are outside the protocol, each for a reason its module states: RNADE (continuous data:
a density, not logits over K values) and the two-level multiscale model in utils.models.multiscale
(it draws many pixels per network evaluation, which is its point)."""
from .attention import MultiHeadAttention
from .fvsbn import FVSBN
from .gated_pixelcnn import GatedPixelCNN
from .histogram import fit_histogram, sample_inverse_cdf
from .image_layers import MaskedConv2d, pixelcnn_mask, with_image_shape
from .joint2d import Joint2D
from .logistic_mixture import (DiscretizedLogisticMixture, discretized_logistic_mixture_log_prob,
                               sample_discretized_logistic_mixture)
from .made import MADE, dead_units, made_connectivity, made_degrees, made_masks
from .nade import NADE
from .pixelcnn import PixelCNN
from .pixelrnn import DiagonalBiLSTM, RowLSTM
from .pixelsnail import PixelSNAIL
from .rnade import RNADE
from .rnn import AutoregressiveRNN
from .softmax1d import SoftmaxDistribution
from .transformer import Transformer
from .video_pixelcnn import VideoPixelCNN
from .wavenet import CausalConv1d, GatedResidualBlock, WaveNet, receptive_field
