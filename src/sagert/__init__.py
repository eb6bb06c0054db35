"""sagert: synthetic safety-alignment and red-teaming data, the SAGE-RT process."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sagert")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
