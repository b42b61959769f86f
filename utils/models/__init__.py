"""Reference models. Each follows the course's model protocol (COURSE_DESIGN §3):
integer input in [0, K); forward -> logits per position; log_prob -> (N,) nats; sample(n, generator)."""
from .fvsbn import FVSBN
from .gated_pixelcnn import GatedPixelCNN
from .histogram import fit_histogram, sample_inverse_cdf
from .joint2d import Joint2D
from .logistic_mixture import (DiscretizedLogisticMixture, discretized_logistic_mixture_log_prob,
                               sample_discretized_logistic_mixture)
from .made import MADE, dead_units, made_connectivity, made_degrees, made_masks
from .nade import NADE
from .pixelcnn import MaskedConv2d, PixelCNN, pixelcnn_mask
from .rnn import AutoregressiveRNN
from .softmax1d import SoftmaxDistribution
from .wavenet import CausalConv1d, GatedResidualBlock, WaveNet, receptive_field
