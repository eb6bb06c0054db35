"""The pairs as the trainer sees them: chat messages, with room left for an answer.

Prompts become chat turns so training applies the same chat template the model answers with
(TRL tokenizes a plain-string prompt as raw text). A pair whose templated prompt leaves fewer
than `min_answer_tokens` of `max_length` is dropped and counted: TRL would truncate its answer
to nothing, and an empty answer's mean log-probability is NaN, which poisons every weight.
"""

from __future__ import annotations

from typing import Any

PAIR_COLUMNS = ("prompt", "chosen", "rejected")


def as_chat(row: dict[str, Any]) -> dict[str, Any]:
    """A standard-format pair in TRL's conversational format (already-chat rows unchanged)."""
    if not isinstance(row["prompt"], str):
        return {k: row[k] for k in PAIR_COLUMNS}
    return {
        "prompt": [{"role": "user", "content": row["prompt"]}],
        "chosen": [{"role": "assistant", "content": row["chosen"]}],
        "rejected": [{"role": "assistant", "content": row["rejected"]}],
    }


def prompt_tokens(row: dict[str, Any], tokenizer: Any) -> int:
    text = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    return len(tokenizer(str(text), add_special_tokens=False)["input_ids"])


def training_pairs(
    dataset: Any, tokenizer: Any, max_length: int, min_answer_tokens: int = 32
) -> tuple[Any, int]:
    """(chat pairs that fit, how many were dropped as too long)."""
    chat = dataset.map(as_chat, remove_columns=list(dataset.column_names))
    fits = chat.filter(lambda row: prompt_tokens(row, tokenizer) + min_answer_tokens <= max_length)
    return fits, len(chat) - len(fits)
