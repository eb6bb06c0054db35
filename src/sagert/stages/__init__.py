"""Built-in stages; importing this package registers them."""

from sagert.stages import respond

__all__ = ["respond"]
