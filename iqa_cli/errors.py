"""Error hierarchy of iqa.

Library code raises these; the CLI maps them once, at its boundary, to a one-line message and an exit code
(0 ok, 1 data/runtime error, 2 usage error). Messages say what was expected, what was found, and what to do.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class IQAError(Exception):
    """Base class of every error iqa raises on purpose."""

    exit_code: int = EXIT_FAILURE


class UsageError(IQAError, ValueError):
    """The request itself is wrong (bad option value, unknown model name, ...)."""

    exit_code = EXIT_USAGE


class ModelNotFoundError(UsageError, KeyError):
    """No model is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DeviceError(IQAError):
    """The requested compute device does not exist or cannot be used."""


class ImageError(IQAError, ValueError):
    """An input image cannot be read or used (names the file and the reason)."""


class SizeMismatchError(ImageError):
    """Reference and distorted image differ in size."""


class WeightsError(IQAError):
    """Model weights are missing, corrupt, of the wrong architecture or fail their hash check."""


class PairingError(IQAError):
    """Reference/distorted pairs cannot be formed from the given inputs."""


class DatasetError(IQAError):
    """A dataset folder or score table cannot be parsed."""


class TrainingError(IQAError):
    """Training, adaptation or fitting cannot run on the given inputs."""


def exit_code_for(exc: BaseException) -> int:
    """Exit code for an exception reaching the CLI boundary."""
    if isinstance(exc, IQAError):
        return exc.exit_code
    return EXIT_FAILURE
