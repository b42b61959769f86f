"""Generation order: in which order a model draws the positions of one example.

Positions are indexed in the flattened layout of one example: j for vectors (D,), and
c*H*W + h*W + w for images (C, H, W). An order lists the flat positions in the order they are
generated; its inverse, the rank, says at which step each position is generated.

    generation_order((3, 2, 2))        # raster order, R G B of a pixel in turn: [0, 4, 8, 1, 5, 9, ...]
    generation_rank((4,), [2, 0, 3, 1])   # x_2 first, then x_0, ...: rank = [1, 3, 0, 2]
"""
import math
from typing import Sequence

import torch


def generation_order(event_shape: Sequence[int], ordering: Sequence[int] | None = None) -> torch.Tensor:
    """(P,) long: the flat positions in the order they are generated.

    ordering: a permutation of range(P) to use as it is. Default: natural order for vectors; for
    images, raster order over pixels with the channels of one pixel in turn (R, then G, then B).
    """
    event_shape = tuple(event_shape)
    num_positions = math.prod(event_shape)
    if ordering is not None:
        order = torch.as_tensor(ordering, dtype=torch.long).flatten().cpu()
        if order.numel() != num_positions or not torch.equal(order.sort().values, torch.arange(num_positions)):
            raise ValueError(f"ordering must be a permutation of range({num_positions}), got {order.tolist()[:12]}...")
        return order
    if len(event_shape) == 3:
        channels, height, width = event_shape
        pixel_major = torch.arange(num_positions).reshape(channels, height * width).T   # (H*W, C)
        return pixel_major.flatten()
    return torch.arange(num_positions)


def generation_rank(event_shape: Sequence[int], ordering: Sequence[int] | None = None) -> torch.Tensor:
    """rank[p] = the step at which flat position p is generated, a (P,) long tensor (see generation_order)."""
    order = generation_order(event_shape, ordering)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    return rank


def model_order(model) -> torch.Tensor:
    """(P,) a model's generation order: its `ordering` (the positions in the order it generates them)
    where it has one, else the default order of its event shape."""
    return generation_order(model.event_shape, getattr(model, "ordering", None))


def position_name(p: int, event_shape: Sequence[int]) -> str:
    """A readable name for flat position p: 'x[5]' for vectors, 'x[c=0, h=2, w=3]' for images."""
    if len(event_shape) == 3:
        _, height, width = event_shape
        return f"x[c={p // (height * width)}, h={p // width % height}, w={p % width}]"
    return f"x[{p}]"
