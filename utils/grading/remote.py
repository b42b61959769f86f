"""How hidden tests reach a submission: calls that carry plain data across a trust boundary.

The student's code runs in a sandboxed kernel; the hidden tests run in the trusted grader. The
two talk over a Unix socket, and only **plain data** crosses it: None, bools, ints, floats,
strings, tensors, and lists / tuples / dicts of those. Everything else stays where it lives and
is named by a handle:

    student = submission(globals())        # in a hidden test
    hist = student.fit_histogram(x, 5)     # a call in the submission; a plain tensor comes back
    model = student.SoftmaxModel(7)        # an object comes back as a Remote handle
    lp = model.log_prob(torch.arange(7))   # a method call on the handle: a plain tensor again

The trusted side reads every message with `torch.load(weights_only=True)` and then checks each
value's type, so a tensor subclass whose comparisons always succeed, or any pickled object, is
refused before a hidden test can see it. Trusted functions and modules passed as arguments (a
reference mask function, a reference convolution) stay in the grader: the submission gets a stub
that calls back, so a hidden test can grade one part of a homework with reference parts around it.

`submission(globals())` in a notebook (nbval, or plain `nbgrader autograde` without the course's
grader) gives the same interface over the notebook's own globals, with the same copies of plain
data, so one hidden test runs unchanged in both places.
"""
import contextvars
import hashlib
import io
import socket
import struct
from dataclasses import dataclass

import torch
from torch import nn

MAX_MESSAGE_BYTES = 256 * 2 ** 20
PLAIN_SCALARS = (type(None), bool, int, float, str)


class SubmissionError(Exception):
    """The submission's code raised while a hidden test called it (the message says what it raised)."""


class SubmissionLost(SubmissionError):
    """The submission stopped answering: its kernel died, or a call ran past the time limit."""


class ProtocolError(SubmissionError):
    """The submission sent back something that is not plain data."""


# ----------------------------------------------------------------------------------------------
# the wire: length-prefixed torch.save messages


def dumps(message) -> bytes:
    buffer = io.BytesIO()
    torch.save(message, buffer)
    return buffer.getvalue()


def loads_trusted(data: bytes):
    """Decode a message *from the submission*: plain tensors and containers only."""
    try:
        message = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as error:
        raise ProtocolError(f"the submission sent something that is not plain data ({type(error).__name__})") from None
    return _checked_plain(message)


def _checked_plain(value, depth: int = 0):
    if depth > 50:
        raise ProtocolError("the submission sent data nested too deeply")
    if type(value) in PLAIN_SCALARS:
        return value
    if type(value) is torch.Tensor:
        return value
    if type(value) is nn.Parameter:
        return value.detach().as_subclass(torch.Tensor)
    if type(value) in (list, tuple):
        return type(value)(_checked_plain(v, depth + 1) for v in value)
    if isinstance(value, dict) and type(value).__module__ in ("builtins", "collections"):
        if not all(type(key) is str for key in value):
            raise ProtocolError("the submission sent a dict whose keys are not strings")
        return {key: _checked_plain(v, depth + 1) for key, v in value.items()}
    raise ProtocolError(f"the submission sent a {type(value).__name__}, which is not plain data")


def send(sock: socket.socket, message) -> None:
    data = dumps(message)
    sock.sendall(struct.pack("!Q", len(data)) + data)


def receive(sock: socket.socket) -> bytes:
    header = _read_exactly(sock, 8)
    (length,) = struct.unpack("!Q", header)
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"a message of {length} bytes is over the {MAX_MESSAGE_BYTES} byte limit")
    return _read_exactly(sock, length)


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining:
        try:
            chunk = sock.recv(min(remaining, 2 ** 20))
        except socket.timeout:
            raise SubmissionLost("the submission did not answer within the time limit") from None
        except OSError as error:
            raise SubmissionLost(f"the connection to the submission broke ({error})") from None
        if not chunk:
            raise SubmissionLost("the submission's kernel stopped (it died or was stopped) while being graded")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


# ----------------------------------------------------------------------------------------------
# the submission's end: answers requests inside the student's kernel


class SubmissionSide:
    """Holds the objects a hidden test has handles to, and answers its requests.

    namespace: the submission's globals. ask_grader(message) -> reply: sends a call-back request to
    the trusted side (for trusted functions and modules passed as arguments) and returns its reply.
    """

    def __init__(self, namespace: dict, ask_grader):
        self.namespace = namespace
        self.ask_grader = ask_grader
        self.objects: dict[int, object] = {}

    # values leaving the submission: plain data, or a handle to an object kept here
    def export(self, value, depth: int = 0):
        if type(value) in PLAIN_SCALARS:
            return value
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().as_subclass(torch.Tensor).clone()
        if type(value).__module__ == "numpy" and hasattr(value, "dtype") and value.dtype.kind in "biuf":
            return value.item() if value.ndim == 0 else torch.from_numpy(value.copy())
        if isinstance(value, torch.Size):
            return tuple(int(v) for v in value)
        if isinstance(value, torch.Generator):               # crosses as a copy of its state
            return {"__generator__": value.get_state(), "device": str(value.device)}
        if type(value) in (list, tuple) and depth < 20:
            return type(value)(self.export(v, depth + 1) for v in value)
        if isinstance(value, dict) and all(type(k) is str for k in value) and depth < 20:
            return {k: self.export(v, depth + 1) for k, v in value.items()}
        handle = len(self.objects) + 1
        self.objects[handle] = value
        return {"__remote__": handle, "type": type(value).__name__}

    # values arriving from the grader: plain data, handles back to our objects, or call-back stubs
    def imported(self, value):
        if isinstance(value, dict) and "__remote__" in value:
            return self.objects[value["__remote__"]]
        if isinstance(value, dict) and "__grader__" in value:
            return GraderObject(self, value["__grader__"], value.get("type", "object"))
        if isinstance(value, dict) and "__generator__" in value:
            generator = torch.Generator(device=value.get("device", "cpu"))
            generator.set_state(value["__generator__"])
            return generator
        if type(value) in (list, tuple):
            return type(value)(self.imported(v) for v in value)
        if isinstance(value, dict):
            return {k: self.imported(v) for k, v in value.items()}
        return value

    def target(self, handle):
        return self.objects[handle] if handle is not None else None

    def handle(self, request: dict) -> dict:
        """Answer one request from the grader: {"value": ...} or {"error": {...}}."""
        try:
            return {"value": self.export(self._perform(request))}
        except BaseException as error:  # the student's code may raise anything, SystemExit included
            if isinstance(error, KeyboardInterrupt):
                raise
            return {"error": {"type": type(error).__name__, "message": _short(str(error))}}

    def _perform(self, request: dict):
        op, handle = request["op"], request.get("target")
        obj = self.target(handle)
        if op == "getattr":
            name = request["name"]
            if handle is None:
                if name not in self.namespace:
                    raise NameError(f"name {name!r} is not defined in the notebook")
                return self.namespace[name]
            return getattr(obj, name)
        if op == "setattr":
            value = self.imported(request["value"])
            if handle is None:
                self.namespace[request["name"]] = value
            else:
                setattr(obj, request["name"], value)
            return None
        if op == "call":
            if handle is None:
                raise TypeError("the notebook itself cannot be called")
            return obj(*self.imported(request.get("args", ())), **self.imported(request.get("kwargs", {})))
        if op == "getitem":
            return obj[self.imported(request["key"])]
        if op == "len":
            return len(obj)
        if op == "iter":
            return list(obj)
        if op == "probe":
            from . import probes
            if request["name"] not in probes.__all__:
                raise NameError(f"unknown probe {request['name']!r}")
            function = getattr(probes, request["name"])
            return function(*self.imported(request.get("args", ())), **self.imported(request.get("kwargs", {})))
        raise ValueError(f"unknown request {op!r}")


class GraderObject(nn.Module):
    """Stands in the submission for a trusted function or module of the grader: calls go back to it.

    It is an nn.Module, so it can be assigned as a submodule (e.g. a reference convolution inside a
    student's block); results come back as plain tensors, without gradients.
    """

    def __init__(self, side: SubmissionSide, grader_id: int, kind: str):
        super().__init__()
        object.__setattr__(self, "_side", side)
        object.__setattr__(self, "_grader_id", grader_id)
        object.__setattr__(self, "_kind", kind)

    def _ask(self, op: str, **fields):
        side = object.__getattribute__(self, "_side")
        message = {"callback": object.__getattribute__(self, "_grader_id"), "op": op, **fields}
        reply = side.ask_grader({k: side.export(v) if k in ("args", "kwargs") else v for k, v in message.items()})
        if "error" in reply:
            raise RuntimeError(f"the grader's reference code raised {reply['error']['type']}: {reply['error']['message']}")
        return side.imported(reply["value"])

    def forward(self, *args, **kwargs):
        return self._ask("call", args=args, kwargs=kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name.startswith("_"):
                raise
            return self._ask("getattr", name=name)

    def __repr__(self):
        return f"<{object.__getattribute__(self, '_kind')} of the grader>"


def serve(listener: socket.socket, namespace: dict) -> None:
    """Answer the grader's requests on the first connection to `listener` until the grader closes it.

    In a sandbox, utils.grading.listen.serve_in_background runs this in a thread of the kernel.
    """
    connection, _ = listener.accept()
    listener.close()

    def ask_grader(message):
        send(connection, message)
        return torch.load(io.BytesIO(receive(connection)), weights_only=False)   # the grader is trusted

    side = SubmissionSide(namespace, ask_grader)
    with connection:
        while True:
            try:
                data = receive(connection)
            except SubmissionLost:
                return                                    # the grader went away
            if not data:
                return                                    # the grader's empty message: grading is over
            send(connection, side.handle(torch.load(io.BytesIO(data), weights_only=False)))


# ----------------------------------------------------------------------------------------------
# the grader's end


class Remote:
    """An object that lives in the submission; attribute access, calls, indexing go over the link."""
    __slots__ = ("_link", "_handle", "_type")

    def __init__(self, link, handle, type_name: str = "object"):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_type", type_name)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._link.request({"op": "getattr", "target": self._handle, "name": name})

    def __setattr__(self, name, value):
        self._link.request({"op": "setattr", "target": self._handle, "name": name, "value": value})

    def __call__(self, *args, **kwargs):
        return self._link.request({"op": "call", "target": self._handle, "args": args, "kwargs": kwargs})

    def __getitem__(self, key):
        return self._link.request({"op": "getitem", "target": self._handle, "key": key})

    def __len__(self):
        return self._link.request({"op": "len", "target": self._handle})

    def __iter__(self):
        return iter(self._link.request({"op": "iter", "target": self._handle}))

    def __repr__(self):
        return f"<{self._type} in the submission>"


class Submission(Remote):
    """The submission's globals: `student.name` is the notebook's global `name`."""

    def __init__(self, link):
        super().__init__(link, None, "notebook")

    def __call__(self, *args, **kwargs):
        raise TypeError("call a function of the submission, e.g. student.fit_histogram(...)")


class Link:
    """The grader's end of a connection: encodes requests, serves call-backs, decodes replies."""

    def __init__(self, exchange):
        self.exchange = exchange                  # exchange(bytes) -> bytes: one message out, one back
        self.grader_objects: dict[int, object] = {}

    def outgoing(self, value):
        if isinstance(value, Remote):
            return {"__remote__": object.__getattribute__(value, "_handle")}
        if type(value) in PLAIN_SCALARS or type(value) is torch.Tensor:
            return value
        if isinstance(value, torch.Tensor):
            return value.detach().as_subclass(torch.Tensor)
        if isinstance(value, torch.Size):
            return tuple(value)
        if isinstance(value, torch.Generator):               # a generator crosses as a copy of its state
            return {"__generator__": value.get_state(), "device": str(value.device)}
        if type(value) in (list, tuple):
            return type(value)(self.outgoing(v) for v in value)
        if isinstance(value, dict):
            return {k: self.outgoing(v) for k, v in value.items()}
        grader_id = len(self.grader_objects) + 1          # a trusted function or module: stays here
        self.grader_objects[grader_id] = value
        return {"__grader__": grader_id, "type": type(value).__name__}

    def incoming(self, value):
        if isinstance(value, dict) and "__remote__" in value:
            return Remote(self, value["__remote__"], str(value.get("type", "object")))
        if isinstance(value, dict) and "__generator__" in value and type(value["__generator__"]) is torch.Tensor:
            generator = torch.Generator()
            generator.set_state(value["__generator__"].to(torch.uint8))
            return generator
        if type(value) in (list, tuple):
            return type(value)(self.incoming(v) for v in value)
        if isinstance(value, dict):
            return {k: self.incoming(v) for k, v in value.items()}
        return value

    def request(self, request: dict):
        fields = {k: (self.outgoing(v) if k in ("args", "kwargs", "value", "key") else v) for k, v in request.items()}
        reply = loads_trusted(self.exchange(dumps(fields)))
        while "callback" in reply:                         # the submission calls one of our objects
            reply = loads_trusted(self.exchange(dumps(self.answer_callback(reply))))
        if "error" in reply:
            raise _as_exception(reply["error"])
        return self.incoming(reply["value"])

    def answer_callback(self, message: dict) -> dict:
        try:
            obj = self.grader_objects[message["callback"]]
            if message["op"] == "getattr":
                result = getattr(obj, message["name"])
            else:
                args, kwargs = self.incoming(message.get("args", ())), self.incoming(message.get("kwargs", {}))
                with torch.no_grad():
                    result = obj(*args, **kwargs)
            return {"value": self.outgoing(result)}
        except Exception as error:
            return {"error": {"type": type(error).__name__, "message": _short(str(error))}}


def _as_exception(error: dict) -> Exception:
    kind, message = error.get("type", "Error"), error.get("message", "")
    if kind == "AttributeError":
        return AttributeError(message)
    if kind == "NotImplementedError":
        return NotImplementedError(message or "not implemented yet")
    return SubmissionError(f"{kind}: {message}" if message else kind)


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + " [...]"


class SocketLink(Link):
    """A link to a submission served on a Unix socket (see `serve`), with a time limit per reply."""

    def __init__(self, path: str, timeout: float):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        super().__init__(self._exchange)

    def _exchange(self, data: bytes) -> bytes:
        try:
            self.sock.sendall(struct.pack("!Q", len(data)) + data)
        except OSError as error:
            raise SubmissionLost(f"the submission's kernel stopped while being graded ({error})") from None
        return receive(self.sock)

    def close(self) -> None:
        try:
            self.sock.sendall(struct.pack("!Q", 0))       # an empty message ends serve()
        except OSError:
            pass
        self.sock.close()


class LocalLink(Link):
    """The same protocol over this process's own globals (notebooks run by nbval or plain nbgrader)."""

    def __init__(self, namespace: dict):
        self.side = SubmissionSide(namespace, self._ask_grader)
        super().__init__(self._exchange)

    def _exchange(self, data: bytes) -> bytes:
        return dumps(self.side.handle(torch.load(io.BytesIO(data), weights_only=False)))

    def _ask_grader(self, message: dict) -> dict:
        reply = self.answer_callback(loads_trusted(dumps(message)))
        return torch.load(io.BytesIO(dumps(reply)), weights_only=False)


# ----------------------------------------------------------------------------------------------
# what hidden tests import


@dataclass
class Grading:
    """The submission a trusted hidden test is grading, and the secret its input seeds come from."""
    link: Link
    secret: str


_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("active_grading", default=None)


def submission(namespace: dict) -> Submission:
    """The submission under test: the sandboxed one while the grader runs, else this notebook's globals."""
    active = _ACTIVE.get()
    return Submission(active.link if active else LocalLink(namespace))


def secret_seed(number: int) -> int:
    """A seed for a hidden test's random inputs: `number` in a notebook, a secret derived from it when grading.

    The tests are public (the course is open), so their inputs must not be: a submission that
    memorised the answers to the published seeds gains nothing. The secret is fixed per course
    folder, so grading the same class twice gives the same inputs and the same grades.
    """
    active = _ACTIVE.get()
    if active is None:
        return number
    digest = hashlib.sha256(f"{active.secret}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2 ** 31 - 1)


def run_probe(function, *args, **kwargs):
    """Run a helper of utils.grading.probes on objects in the submission (e.g. set their weights)."""
    from . import probes
    handles = [a for a in (*args, *kwargs.values()) if isinstance(a, Remote)]
    if not handles:
        return function(*args, **kwargs)
    if function.__name__ not in probes.__all__ or getattr(probes, function.__name__) is not function:
        raise ValueError(f"{function.__name__} is not a probe of utils.grading.probes")
    link = object.__getattribute__(handles[0], "_link")
    return link.request({"op": "probe", "name": function.__name__, "args": args, "kwargs": kwargs})


def activate(link: Link, secret: str):
    """Make hidden tests in this context grade `link` (returns a token for `_ACTIVE.reset`)."""
    return _ACTIVE.set(Grading(link, secret))


def deactivate(token) -> None:
    _ACTIVE.reset(token)


__all__ = ["submission", "secret_seed", "run_probe", "Remote", "Submission", "SubmissionError", "SubmissionLost",
           "serve", "SocketLink", "LocalLink", "activate", "deactivate"]
