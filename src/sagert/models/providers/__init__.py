"""Built-in providers; importing this package registers them."""

from sagert.models.providers import llamacpp, mock, openai

__all__ = ["llamacpp", "mock", "openai"]
