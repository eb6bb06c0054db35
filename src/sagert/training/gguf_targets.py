"""The GGUF files `sagert align` evaluates: the base and the trained model, both f16.

Both are written by `folder_to_gguf` from fp32 folders (the base folder training started
from, and the trained one) against the GGUF the base came from, so they differ only by the
training: evaluating the original Q4_1 base against an f16 trained model would mix
quantisation into the comparison. A file is written again when its folder is newer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sagert.models.embedded import embedded_gguf_path
from sagert.training.to_gguf import convertible, folder_to_gguf
from sagert.training.trainer import TrainResult

FINAL_GGUF = "final.gguf"


@dataclass(frozen=True)
class EvaluationGGUFs:
    base: Path
    trained: Path


def base_gguf_of(base_model: str) -> Path | None:
    """The GGUF a `train.base_model` setting came from (None: a folder or a Hub id)."""
    if base_model == "embedded":
        return embedded_gguf_path()
    path = Path(base_model).expanduser()
    return path if path.suffix == ".gguf" and path.is_file() else None


def evaluation_ggufs(trained: TrainResult, base_model: str) -> EvaluationGGUFs | str:
    """Both models as GGUF files (written when missing or stale), or why they cannot be."""
    source = base_gguf_of(base_model)
    if source is None:
        return f"train.base_model {base_model!r} is not a GGUF"
    base_folder, final = Path(trained.base_model), trained.final_model
    for folder in (base_folder, final):
        problem = convertible(folder, source)
        if problem:
            return problem
    out = EvaluationGGUFs(
        base_folder.with_name(base_folder.name + ".f16.gguf"), final.parent / FINAL_GGUF
    )
    for folder, path in ((base_folder, out.base), (final, out.trained)):
        if not _fresh(path, folder):
            folder_to_gguf(folder, source, path)
    return out


def trained_gguf(final: Path, base_model: str, name: str = FINAL_GGUF) -> Path | str:
    """One trained folder as the GGUF `name` beside it (a later round of `sagert align
    --rounds`, trained from the last round's folder), or why it cannot be."""
    source = base_gguf_of(base_model)
    if source is None:
        return f"train.base_model {base_model!r} is not a GGUF"
    problem = convertible(final, source)
    if problem:
        return problem
    out = final.parent / name
    if not _fresh(out, final):
        folder_to_gguf(final, source, out)
    return out


def _fresh(path: Path, folder: Path) -> bool:
    if not path.is_file():
        return False
    newest = max((f.stat().st_mtime_ns for f in folder.iterdir() if f.is_file()), default=0)
    return path.stat().st_mtime_ns >= newest
