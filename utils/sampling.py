"""Drawing from any model of the course: one sampling loop, and the ways to pick the next value.

The model protocol (every model in utils.models follows it):

    model.num_values        K: every position takes a value in [0, K)
    model.event_shape       the shape of one example: () for one variable, (D,) for vectors and
                            sequences, (C, H, W) for images
    model(x, condition=None)           logits (N, *event_shape, K) for x (N, *event_shape) long
    model.log_prob(x, condition=None)  (N,) log-likelihoods in nats
    model.ordering          optional: the flat positions in the order the model generates them;
                            without it, natural order, or raster order with the channels of a
                            pixel in turn (utils.ordering)

A model that can take a cheap step (an RNN's state, WaveNet's queues, a transformer's key/value
cache) also has

    model.start_cache(n, condition=None) -> cache
    model.cached_step(x, step, cache, condition=None) -> logits (n, K) of position order[step],
        where x (n, *event_shape) holds the values drawn so far; it must give what forward gives.

`sample` walks the generation order once, position by position, for every model:

    x = sample(model, 16, generator=torch.Generator().manual_seed(0), temperature=0.8, top_k=5)
"""
import torch
import torch.nn.functional as F

from .ordering import model_order
from .validation import check_discrete, check_positive_int


def sample_categorical(logits: torch.Tensor, generator: torch.Generator | None = None,
                       temperature: float = 1.0) -> torch.Tensor:
    """One draw per row: logits (..., K) -> long tensor (...) with values in [0, K).

    generator: must live on the same device as `logits` (None uses PyTorch's global generator).
    temperature: divides the logits; < 1 sharpens the distribution, > 1 flattens it.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    if generator is not None and generator.device.type != logits.device.type:
        raise RuntimeError(f"the generator is on {generator.device} but the logits are on {logits.device}; "
                           f"create it with torch.Generator(device={str(logits.device)!r})")
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def choose_next(logits: torch.Tensor, generator: torch.Generator | None = None, temperature: float = 1.0,
                top_k: int | None = None, greedy: bool = False) -> torch.Tensor:
    """Pick the next value from logits (n, K) -> (n,) long.

    greedy: take the most likely value (argmax; no randomness is drawn).
    top_k:  sample among the k most likely values only.
    temperature: < 1 sharpens, > 1 flattens the distribution before sampling.
    """
    if greedy:
        return logits.argmax(dim=-1)
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= logits.shape[-1]:
            raise ValueError(f"top_k must be an int between 1 and {logits.shape[-1]} (the number of values), got {top_k!r}")
        kth_largest = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    return sample_categorical(logits, generator, temperature)


def categorical_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x) summed over every position: logits (N, ..., K) and x (N, ...) long -> (N,) nats.

    The log-softmax at x, computed by cross_entropy: the same numbers as
    log_softmax(logits, -1).gather(-1, x[..., None]), about half the cost forward and backward.
    """
    nats = F.cross_entropy(logits.movedim(-1, 1), x, reduction="none")      # (N, ...) -log p(x_i | ...)
    return -nats.reshape(len(x), -1).sum(1)


def model_device(model) -> torch.device:
    """The device of the model's parameters (the CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _place_prefix(flat: torch.Tensor, order: torch.Tensor, prefix, num_values: int) -> int:
    """Write the prefix, the first P values in generation order, into flat (n, positions); return P."""
    if prefix is None:
        return 0
    prefix = torch.as_tensor(prefix, device=flat.device)
    if prefix.dim() == 1:
        prefix = prefix.expand(len(flat), -1)
    check_discrete(prefix, num_values, name="prefix", ndim=2)
    if len(prefix) != len(flat) or prefix.shape[1] > flat.shape[1]:
        raise ValueError(f"prefix must hold the first P values in generation order, shape (n, P) or (P,) with "
                         f"n = {len(flat)} and P <= {flat.shape[1]}, got {tuple(prefix.shape)}")
    flat[:, order[:prefix.shape[1]].to(flat.device)] = prefix
    return prefix.shape[1]


def _shape_and_order(model, length: int | None) -> tuple[tuple, torch.Tensor]:
    """The shape of one example and the generation order (see `sample`'s length)."""
    if length is None:
        return tuple(model.event_shape), model_order(model)
    if not hasattr(model, "length"):
        raise ValueError(f"length= is for models of sequences of any length; {type(model).__name__} "
                         f"generates examples of shape {tuple(model.event_shape)}")
    return (check_positive_int(length, "length"),), torch.arange(length)


@torch.no_grad()
def sample(model, n: int, *, condition=None, prefix=None, temperature: float = 1.0, top_k: int | None = None,
           greedy: bool = False, generator: torch.Generator | None = None, cached: bool = True,
           length: int | None = None) -> torch.Tensor:
    """Draw n examples (n, *event_shape) long from `model`, one position at a time in its generation order.

    condition: what a conditional model is conditioned on (e.g. class labels (n,)), passed to every call.
    prefix:    (n, P) or (P,): the first P values in generation order are given (completion); the
               rest are drawn. For images, the top rows of (n, C, R, W) images are
               `images.permute(0, 2, 3, 1).reshape(n, -1)` (raster order, channels in turn).
    temperature, top_k, greedy: how each value is picked (see choose_next).
    generator: a torch.Generator: the same generator state gives the same samples.
    cached:    use the model's cached step where it has one (same samples, faster); False runs the
               full forward pass at every position.
    length:    for models of sequences of any length (RNN, WaveNet): how many positions to draw.
    """
    check_positive_int(n, "n")
    model_was_training = model.training
    model.eval()
    try:
        event_shape, order = _shape_and_order(model, length)
        x = torch.zeros(n, *event_shape, dtype=torch.long, device=model_device(model))
        flat = x.view(n, -1)
        given = _place_prefix(flat, order, prefix, model.num_values)
        cache = model.start_cache(n, condition) if cached and hasattr(model, "cached_step") else None
        for step, position in enumerate(order.tolist()):
            if cache is not None:
                logits = model.cached_step(x, step, cache, condition)
            else:
                logits = model(x, condition).reshape(n, -1, model.num_values)[:, position]
            if step >= given:
                flat[:, position] = choose_next(logits, generator, temperature, top_k, greedy)
        return x
    finally:
        model.train(model_was_training)


@torch.no_grad()
def beam_search(model, beam_width: int, *, condition=None, prefix=None, length: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The beam_width most likely examples beam search finds: (beam_width, *event_shape) long, best first,
    and their log-likelihoods (beam_width,) in nats.

    Walks the generation order like `sample`, but keeps the beam_width partial examples with the highest
    log p(x_<=i) instead of drawing one: at every position each kept example is extended by every value,
    and the beam_width best of those beam_width * K extensions are kept. beam_width = 1 is greedy
    decoding; a beam of K ** (D - 1) examples (D positions) finds the exact top list, at a cost that only
    toy problems can pay. It runs the full forward pass at every position (no cache).

    condition: for one example (e.g. a class label of shape (1,)); it is repeated for every kept example.
    prefix:    (P,): the first P values in generation order are given (their log-probabilities count).
    length:    for models of sequences of any length (RNN, WaveNet): how many positions to decode.
    """
    check_positive_int(beam_width, "beam_width")
    model_was_training = model.training
    model.eval()
    try:
        event_shape, order = _shape_and_order(model, length)
        if prefix is not None and torch.as_tensor(prefix).dim() != 1:
            raise ValueError(f"prefix must be one example's first P values, shape (P,), got {tuple(torch.as_tensor(prefix).shape)}")
        x = torch.zeros(1, *event_shape, dtype=torch.long, device=model_device(model))
        given = _place_prefix(x.view(1, -1), order, prefix, model.num_values)
        if condition is not None:
            condition = torch.as_tensor(condition, device=x.device)
            if condition.dim() == 0 or len(condition) != 1:
                raise ValueError(f"condition must be one example's, e.g. a label of shape (1,), got {tuple(condition.shape)}")
        scores = torch.zeros(1, device=x.device)                                 # log p(x_<=i) of each kept example
        for step, position in enumerate(order.tolist()):
            kept_condition = None if condition is None else condition.expand(len(x), *condition.shape[1:])
            logits = model(x, kept_condition).reshape(len(x), -1, model.num_values)[:, position]
            log_probs = torch.log_softmax(logits.float(), dim=-1)                 # (kept, K)
            if step < given:                                                     # a given value: score it, keep it
                scores = scores + log_probs[:, x.view(len(x), -1)[0, position]]
                continue
            extended = (scores[:, None] + log_probs).flatten()                   # (kept * K,) every one-value extension
            best = extended.topk(min(beam_width, len(extended)))
            parent, value = best.indices // model.num_values, best.indices % model.num_values
            x = x[parent].clone()
            x.view(len(x), -1)[:, position] = value
            scores = best.values
        return x, scores
    finally:
        model.train(model_was_training)
