"""Helpers that hidden tests run *inside* the submission, on the student's own objects.

A hidden test cannot reach into a student's model from the grader (only plain data crosses), so
the few things that need the object itself are done here and return plain data:

    run_probe(randomize_parameters, model, seed=secret_seed(3), scale=1.5)
    grads = run_probe(parameter_gradients, model, "log_prob", x)

They run in the student's kernel, so their answers are as trustworthy as the student's own code:
hidden tests use them to set up a situation, then judge the outputs of the student's functions.
"""
import torch


def randomize_parameters(module, seed: int, scale: float = 1.0, shift: float = 0.0, uniform: bool = False) -> int:
    """Draw every parameter of `module` at random (normal * scale + shift, or uniform [0, 1) * scale + shift).

    Zero-initialised tables hide dependencies; random weights reveal them. Returns the number of tensors set.
    """
    generator = torch.Generator().manual_seed(int(seed))
    count = 0
    with torch.no_grad():
        for parameter in module.parameters():
            draw = torch.rand if uniform else torch.randn
            parameter.copy_(draw(parameter.shape, generator=generator, dtype=parameter.dtype) * scale + shift)
            count += 1
    return count


def parameter_gradients(module, method: str, *args) -> dict:
    """{parameter name: gradient of module.method(*args).sum(), or None where none flows}."""
    module.zero_grad(set_to_none=True)
    with torch.enable_grad():
        output = getattr(module, method)(*args) if method != "__call__" else module(*args)
        output.sum().backward()
    return {name: (None if p.grad is None else p.grad.detach().clone()) for name, p in module.named_parameters()}


def argument_gradients(function, args: list, wrt: list) -> list:
    """Gradients of function(*args).sum() with respect to the arguments at positions `wrt` (None: no gradient)."""
    args = list(args)
    for index in wrt:
        args[index] = args[index].detach().clone().requires_grad_(True)
    with torch.enable_grad():
        function(*args).sum().backward()
    return [None if args[i].grad is None else args[i].grad.detach().clone() for i in wrt]


def module_layout(module) -> dict:
    """The names of a module's parameters, buffers and state_dict entries."""
    return {"parameters": [name for name, _ in module.named_parameters()],
            "buffers": [name for name, _ in module.named_buffers()],
            "state_dict": list(module.state_dict())}


def load_weights(module, state: dict, strict: bool = True) -> list:
    """module.load_state_dict(state) with tensors from the grader; returns the keys it did not fill."""
    result = module.load_state_dict(state, strict=strict)
    return list(result.missing_keys)


def set_submodules(module, name: str, modules: list) -> None:
    """module.<name> = nn.ModuleList(modules), e.g. to put the grader's reference layers into a student's model."""
    setattr(module, name, torch.nn.ModuleList(modules))


def to_double(module):
    """module.double(), for exact dependency measurements (returns the module)."""
    return module.double()


def run_steps(make_state, step, model, inputs) -> list:
    """[step(model, inputs[:, t], state) for each t], state = make_state(model, len(inputs)).

    The state (e.g. a cache of queues) stays here between the steps, whatever it is made of, and is
    changed only by `step`; what crosses to the grader is the list of outputs, one per step.
    """
    state = make_state(model, len(inputs))
    with torch.no_grad():
        return [step(model, inputs[:, t], state) for t in range(inputs.shape[1])]


__all__ = ["randomize_parameters", "parameter_gradients", "argument_gradients", "module_layout", "load_weights",
           "set_submodules", "to_double", "run_steps"]
