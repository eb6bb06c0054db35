"""Built-in providers; importing this package registers them."""

from sagert.models.providers import hf_local, llamacpp, mock, openai, vllm

__all__ = ["hf_local", "llamacpp", "mock", "openai", "vllm"]
