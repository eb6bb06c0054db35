"""The OpenAI chat-completions request body, shared by the HTTP and the in-process providers
(llama.cpp's engine takes the same JSON)."""

from __future__ import annotations

from typing import Any, Literal

from sagert.models.types import GenerateConfig, Message

JsonMode = Literal["json_schema", "json_object", "none"]


def chat_body(
    messages: list[Message], config: GenerateConfig, json_mode: JsonMode = "json_schema"
) -> dict[str, Any]:
    """Messages (a prefill becomes a trailing assistant turn the server continues) + settings."""
    turns = [{"role": m.role, "content": m.content} for m in messages]
    if config.prefill:
        turns.append({"role": "assistant", "content": config.prefill})
    body: dict[str, Any] = {"messages": turns, **sampling(config)}
    if config.json_schema is not None and json_mode == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": config.json_schema},
        }
    elif config.json_schema is not None and json_mode == "json_object":
        body["response_format"] = {"type": "json_object"}
    return body


def completion_body(prompt: str, config: GenerateConfig) -> dict[str, Any]:
    """A raw-completion request: the prompt as written, no chat template, no JSON mode."""
    return {"prompt": prompt, **sampling(config)}


def sampling(config: GenerateConfig) -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: value
        for name in ("max_tokens", "temperature", "top_p", "seed")
        if (value := getattr(config, name)) is not None
    }
    if config.stop:
        fields["stop"] = list(config.stop)
    return fields
