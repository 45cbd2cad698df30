"""normrt: build ONNX models into engines and run them from Python.

    import normrt
    eng = normrt.build("model.onnx", device="cpu",
                       shapes={"images": [(1, 3, 224, 224), (4, 3, 224, 224), (8, 3, 224, 224)]})
    eng.save("model.nrt"); eng = normrt.load("model.nrt")
    outs = eng.run({"images": x})     # dict name -> numpy array, in the model's output order

Inputs are numpy arrays, or CPU tensors of any library that speaks DLPack (``__dlpack__``, e.g. PyTorch CPU
tensors): a C-contiguous array of the input's dtype is read in place, never copied; anything else is copied
once into a contiguous buffer. Dtypes are never converted silently: a float64 array for a float32 input is an
error that says how to convert. Outputs are numpy arrays that own normrt's result buffers (no copy); pass
them to ``torch.from_numpy`` to get tensors without a copy either.

GPU tensors (``torch.cuda`` tensors, any ``__dlpack__`` object on a CUDA device) go to engines built with
``device="cuda"`` and are read in place (they must be contiguous: pass ``x.contiguous()``); the outputs are then
``normrt.GpuArray`` objects in GPU memory that speak DLPack, so ``torch.from_dlpack(out)`` is a torch.cuda
tensor without a copy. The run is ordered on ``stream=`` (a ``torch.cuda.Stream`` or a cudaStream_t as int),
by default PyTorch's current stream: the outputs are ready for work queued on that stream afterwards. Inputs
are all on the host or all on the GPU, never mixed; a cpu engine refuses GPU tensors.
The GIL is released while an engine runs, so several
Python threads can run one engine at the same time (each call takes an execution context of its own).

Errors are ``normrt.Error`` subclasses, one per error code (``normrt.InvalidArgumentError``, ...), whose
message is the one the ``normrt`` command line prints.
"""

import os as _os

from ._errors import (CorruptEngineError, DeviceUnavailableError, Error, InternalError, InvalidArgumentError,
                      InvalidModelError, IoError, PluginMissingError, ShapeError, UnsupportedOpError)
from ._normrt import Context, Engine, GpuArray, TensorInfo, __version__, deserialize, load
from . import _normrt

__all__ = ["build", "load", "deserialize", "load_plugins", "registered_plugin_ops", "Engine", "Context", "GpuArray",
           "TensorInfo", "Error", "InvalidArgumentError", "InvalidModelError", "UnsupportedOpError", "ShapeError",
           "CorruptEngineError", "IoError", "PluginMissingError", "InternalError", "DeviceUnavailableError",
           "__version__"]


def _shape(value, what):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidArgumentError(f"{what} must be a sequence of ints, like (1, 3, 224, 224); got {value!r}")
    dims = []
    for d in value:
        if isinstance(d, bool) or not hasattr(d, "__index__"):
            raise InvalidArgumentError(f"{what} must be a sequence of ints, like (1, 3, 224, 224); got {value!r}")
        d = d.__index__()
        if d < 0:
            raise InvalidArgumentError(f"{what} has a negative dimension: {value!r}")
        dims.append(d)
    return dims


def _profile(shapes, where):
    if not isinstance(shapes, dict):
        raise InvalidArgumentError(f"{where} must be a dict: input name -> [min, opt, max] shapes; "
                                   f"got a {type(shapes).__name__}")
    profile = {}
    for name, ranges in shapes.items():
        if not isinstance(name, str):
            raise InvalidArgumentError(f"{where}: input names must be strings; got {name!r}")
        ranges = list(ranges) if hasattr(ranges, "__iter__") and not isinstance(ranges, (str, bytes)) else None
        if ranges is None or len(ranges) != 3:
            raise InvalidArgumentError(f"{where}['{name}'] must be [min, opt, max]: three shapes, e.g. "
                                       f"[(1, 3, 224, 224), (4, 3, 224, 224), (8, 3, 224, 224)]")
        profile[name] = tuple(_shape(r, f"{where}['{name}'][{i}]") for i, r in enumerate(ranges))
    return profile


def build(model, device="cpu", shapes=None, profiles=None, precision="float32", timing_cache=None):
    """Builds an engine from an ONNX model (a path, or the model's bytes).

    shapes: {input name: [min, opt, max]} for every dynamic input, one profile. profiles: a list of such
    dicts, for several profiles (a run uses the first that holds its shapes). Static inputs may be left out;
    a model whose inputs are all static needs neither. device: "cpu". precision: "float32" (the CPU backend's
    only precision). timing_cache: a file of tuning choices for GPU builds (`normrt build --timing-cache`):
    reused where they apply, new ones added; created when missing.
    """
    if shapes is not None and profiles is not None:
        raise InvalidArgumentError("give shapes (one profile) or profiles (a list of them), not both")
    if profiles is None:
        profiles = [] if shapes is None else [shapes]
    elif isinstance(profiles, dict):
        raise InvalidArgumentError("profiles must be a list of {input name: [min, opt, max]} dicts; "
                                   "for one profile use shapes=")
    checked = [_profile(p, "shapes" if shapes is not None else f"profiles[{i}]") for i, p in enumerate(profiles)]
    if not isinstance(model, (bytes, bytearray)):
        model = _os.fspath(model)
    else:
        model = bytes(model)
    cache = "" if timing_cache is None else _os.fspath(timing_cache)
    return _normrt._build(model, device, checked, precision, cache)


def load_plugins(*paths):
    """Loads plugin libraries (file paths) and registers their custom ops, for building and loading engines
    that use them. Loading a library again does nothing; two libraries with the same op are an error that
    names both."""
    for path in paths:
        _normrt.load_plugin_library(path)


def registered_plugin_ops():
    """Every registered plugin op as (domain, name, version, origin)."""
    return _normrt.registered_plugin_ops()
