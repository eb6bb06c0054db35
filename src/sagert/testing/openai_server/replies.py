"""What the test server answers: echo replies, OpenAI-shaped JSON bodies, error bodies."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

ReplyFn = Callable[[dict[str, Any]], str]

JSON_TYPE = "application/json"
GARBAGE = b"<html><body>502 upstream hiccup, this is not JSON {"


def text_of(content: Any) -> str:
    """A message's content as text: a string, or the text parts of a multi-part content."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def default_chat_reply(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return "echo: " + text_of(message.get("content"))
    return "echo: "


def default_completion_reply(body: dict[str, Any]) -> str:
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        prompt = prompt[0] if prompt else ""
    return "echo: " + text_of(prompt)


def error_body(message: str, kind: str, code: int) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


def error_response(status: int, message: str) -> web.Response:
    kind = "not_found_error" if status == 404 else "invalid_request_error"
    return web.Response(
        status=status, body=error_body(message, kind, status), content_type=JSON_TYPE
    )


MODELS = {
    "object": "list",
    "data": [{"id": "test-model", "object": "model", "created": 0, "owned_by": "sagert"}],
}

# Answers are formatted from templates, with json.dumps only on the strings that vary: the same
# JSON as json.dumps of the whole object, at a fraction of the cost.
_CHAT_TEMPLATE = (
    '{"id":"chatcmpl-%d","object":"chat.completion","created":%d,"model":%s,'
    '"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}'
)
_COMPLETION_TEMPLATE = (
    '{"id":"cmpl-%d","object":"text_completion","created":%d,"model":%s,'
    '"choices":[{"index":0,"text":%s,"finish_reason":"stop","logprobs":null}],'
    '"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}'
)


def completion_payload(
    body: dict[str, Any], *, chat: bool, reply: ReplyFn | None, response_id: int
) -> bytes:
    """The JSON body of a successful chat or text completion answering `body`."""
    if chat:
        text = reply(body) if reply is not None else default_chat_reply(body)
        messages = body.get("messages") or []
        prompt_tokens = sum(
            len(text_of(m.get("content")).split()) for m in messages if isinstance(m, dict)
        )
        template = _CHAT_TEMPLATE
    else:
        text = reply(body) if reply is not None else default_completion_reply(body)
        prompt = body.get("prompt", "")
        if isinstance(prompt, list):
            prompt = " ".join(text_of(p) for p in prompt)
        prompt_tokens = len(text_of(prompt).split())
        template = _COMPLETION_TEMPLATE
    completion_tokens = len(text.split())
    return (
        template
        % (
            response_id,
            int(time.time()),
            json.dumps(str(body.get("model") or "test-model")),
            json.dumps(text),
            prompt_tokens,
            completion_tokens,
            prompt_tokens + completion_tokens,
        )
    ).encode()
