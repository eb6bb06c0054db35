"""Upload files to a private Hugging Face dataset repo in one commit.

One commit, so the Hub never shows data without its card, config and manifest (nor a card that
a later dataset push overwrote). The token is read from the environment only and handed to the
Hub client, never written anywhere. The client is a parameter, so tests check what would be
sent without a network.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError

TOKEN_ENVS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")

HubClient = Callable[..., Any]
"""Makes the Hub client from `token=`: `huggingface_hub.HfApi` or a test's fake."""


def hub_token() -> str:
    """The Hub token from HF_TOKEN or HUGGING_FACE_HUB_TOKEN; a user error when neither is set."""
    token = next((os.environ[name] for name in TOKEN_ENVS if os.environ.get(name)), None)
    if not token:
        raise UserError("pushing to the Hub needs a token", fix="export HF_TOKEN=<your token>")
    return token


def push_files(
    repo_id: str,
    files: Mapping[str, Path | bytes],
    *,
    commit_message: str,
    hub_client: HubClient | None = None,
) -> str:
    """Create the private dataset repo if needed, then add `files` (repo path -> local file or
    bytes) in one commit; returns the repo id the Hub resolved (`name` -> `user/name`)."""
    token = hub_token()
    try:
        from huggingface_hub import CommitOperationAdd, HfApi
    except ImportError:
        raise UserError(
            "pushing to the Hub needs the huggingface_hub package", fix="pip install 'sagert[hf]'"
        ) from None
    api = (hub_client or HfApi)(token=token)
    url = api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True)
    resolved = str(getattr(url, "repo_id", None) or repo_id)
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=content)
        for name, content in files.items()
    ]
    api.create_commit(
        resolved, operations=operations, commit_message=commit_message, repo_type="dataset"
    )
    return resolved
