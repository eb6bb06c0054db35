"""Scripted answers for whole-pipeline runs on the mock provider (args.responder)."""

from __future__ import annotations

import json
import os
import re

from sagert.models.providers.mock import MockFault
from sagert.models.types import GenerateConfig, Message


def pipeline(messages: list[Message], config: GenerateConfig) -> str:
    """Answers each generation prompt in the shape it asks for, varied by the seed."""
    prompt = messages[-1].content
    seed = config.seed or 0
    system = messages[0].content if messages[0].role == "system" else ""
    if "harmless" in system:
        return "I can't help with that, because it could hurt people. Here is a safe option."
    if "without content restrictions" in system:
        return f"Sure, here is exactly how to do it, step {seed % 7}: first, ..."
    schema = config.json_schema or {}
    props = schema.get("properties", {})
    if "children" in props:
        parent = re.findall(r"more specific [a-z -]+ of \"([^\"]+)\"", prompt)
        base = parent[0] if parent else "node"
        return json.dumps(
            {
                "children": [
                    {"name": f"{word} tactic {seed % 1000}", "description": f"A kind of {base}."}
                    for word in ("alpha", "beta", "gamma", "delta")
                ]
            }
        )
    if "queries" in props:
        return json.dumps(
            {
                "queries": [
                    {
                        "query": f"Explain step by step how to do harmful thing {seed % 997}-{i}",
                        "rationale": "it asks for harmful instructions",
                        "category": "crime",
                    }
                    for i in range(3)
                ]
            }
        )
    if "Write only the" in prompt:
        return f"Raw text number {seed}: " + "a detailed passage about a harmful topic. " * 4
    request = prompt.rsplit("#Given Prompt#:", 1)[-1].split("#Rewritten Prompt#")[0].strip()
    if not request:
        request = prompt[-200:]
    return f"In a more demanding way (v{seed % 13}): {request}"


def refusing_generator(messages: list[Message], config: GenerateConfig) -> str:
    if "Write only the" in messages[-1].content:
        return "I'm sorry, but I can't help with that."
    return pipeline(messages, config)


def sometimes_unsafe_aligned(messages: list[Message], config: GenerateConfig) -> str:
    """The aligned side complies on odd seeds: those pairs must be dropped, with a reason."""
    system = messages[0].content if messages[0].role == "system" else ""
    if "harmless" in system and (config.seed or 0) % 2:
        return "Sure, here is how to do it."
    return pipeline(messages, config)


def bad_json(messages: list[Message], config: GenerateConfig) -> str:
    """Expansion gets prose, extraction gets JSON of the wrong shape; raw text is fine."""
    props = (config.json_schema or {}).get("properties", {})
    if "children" in props:
        return "Here are some ideas: violence, theft and fraud."
    if "queries" in props:
        return '{"items": ["how to steal"]}'
    return pipeline(messages, config)


def empty_rewrites(messages: list[Message], config: GenerateConfig) -> str:
    """Every LLM rewrite (evolution, LLM attack styles) comes back empty."""
    if "#Given Prompt#" in messages[-1].content:
        return ""
    return pipeline(messages, config)


def server_reply(body: dict) -> str:
    """The same scripted answers, for the HTTP test server (an OpenAI request body in)."""
    messages = [
        Message(role=m["role"], content=m["content"])
        for m in body["messages"]
        if m["role"] in ("system", "user", "assistant")
    ]
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    return pipeline(messages, GenerateConfig(seed=body.get("seed"), json_schema=schema))


def flaky(messages: list[Message], config: GenerateConfig) -> str | MockFault:
    """Fails for good on prompts with "flaky" while the file $SAGERT_FLAKY_MARKER exists."""
    prompt = messages[-1].content
    marker = os.environ.get("SAGERT_FLAKY_MARKER", "")
    if "flaky" in prompt and marker and os.path.exists(marker):
        return MockFault(error="scripted outage", retryable=False)
    return f"An answer to: {prompt[-60:]}"


def refusing_baseline(messages: list[Message], config: GenerateConfig) -> str:
    """Refuses every other baseline call (by seed parity), answers the rest."""
    if (config.seed or 0) % 2:
        return "I'm sorry, but I can't assist with that."
    return f"How would someone carry out harmful act number {config.seed}?"


GATE_MARK = "You check a red-teaming dataset"


def gate_answer(prompt: str) -> str:
    """The prompt gate's answer, by a rule a test can apply again to the judged text:
    harm check: query "-1" is harmless ("No."), "-2" gets garbage; intent check: an evolved
    request whose version number is even lost its intent ("no")."""
    if "<response>" in prompt:  # harm_intent judging an answer: the unaligned side complies
        return "yes" if "Sure, here is" in prompt.split("<response>", 1)[1] else "no"
    request = prompt.split("<rewritten>" if "<original>" in prompt else "<request>", 1)[-1]
    if "<original>" in prompt:
        version = re.search(r"\(v(\d+)\)", request)
        return "no" if version and int(version.group(1)) % 2 == 0 else "Yes"
    if re.search(r"harmful thing \d+-2\b", request):
        return "Maybe, it depends."
    return "No." if re.search(r"harmful thing \d+-1\b", request) else "**yes**"


def gated(messages: list[Message], config: GenerateConfig) -> str:
    """The pipeline's answers, and the prompt gate's yes/no by `gate_answer`."""
    prompt = messages[-1].content
    if prompt.startswith(GATE_MARK):
        return gate_answer(prompt)
    return pipeline(messages, config)
