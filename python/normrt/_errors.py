"""normrt's exceptions: one class per error code of the C++ library (normrt/error.h).

``str(error)`` is the library's message, the same text the ``normrt`` command line prints after
``normrt: error (<code name>): ``. ``error.code`` is the stable numeric code, ``error.code_name`` its name.
"""


class Error(Exception):
    """Base class of every error normrt raises."""

    code = 0
    code_name = "error"


class InvalidArgumentError(Error, ValueError):
    """A caller passed something wrong: an unknown input name, a bad shape, a wrong dtype."""

    code = 1
    code_name = "invalid argument"


class InvalidModelError(Error):
    """The ONNX model is malformed or inconsistent."""

    code = 2
    code_name = "invalid model"


class UnsupportedOpError(Error):
    """The model uses an op that normrt does not implement and no loaded plugin provides."""

    code = 3
    code_name = "unsupported op"


class ShapeError(Error, ValueError):
    """Shapes do not fit together, or an input does not fit any profile of the engine."""

    code = 4
    code_name = "shape error"


class CorruptEngineError(Error):
    """An engine file failed verification (checksum, version, structure)."""

    code = 5
    code_name = "corrupt engine"


class IoError(Error, OSError):
    """A file could not be read or written, or a plugin library could not be loaded."""

    code = 6
    code_name = "I/O error"


class PluginMissingError(Error):
    """An engine uses a plugin op that is not loaded (normrt.load_plugins)."""

    code = 7
    code_name = "plugin missing"


class InternalError(Error):
    """A bug in normrt."""

    code = 8
    code_name = "internal error"


class DeviceUnavailableError(Error):
    """The engine's device cannot be used here: no GPU or driver, or a normrt built without its backend."""

    code = 9
    code_name = "device unavailable"


_BY_CODE = {cls.code: cls for cls in (InvalidArgumentError, InvalidModelError, UnsupportedOpError, ShapeError,
                                      CorruptEngineError, IoError, PluginMissingError, InternalError,
                                      DeviceUnavailableError)}
