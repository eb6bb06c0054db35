"""Co-evolution for `sagert align --rounds` (`align.redteam: true`): each round attacks the
current model with a fresh `sagert redteam` archive, seeded with the last round's elites.

The archive runs in a run folder of its own inside the round (`RunPaths.round_redteam`), the
current model as its `target` role, so it resumes step by step like any redteam run. Its
successful elites are the current model's unsafe answers; their chosen answer (the aligned
role's) must pass the run's pair judge like every chosen answer of the run, and that verdict
is asked once per (prompt, chosen answer) and kept beside the round.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

from sagert.engine.iterative.archive import Archive
from sagert.engine.session import open_run
from sagert.judges import make_judge
from sagert.judges.base import JudgeContext, JudgeInput, judge_kind
from sagert.models.spec import ModelSpec
from sagert.settings.run import RunConfig
from sagert.stages.pairs import GOOD_VERDICTS
from sagert.store.paths import RunPaths
from sagert.store.run import RunStore
from sagert.workflows import redteam
from sagert.workflows.round_data import pair_row


def sub_run_config(config: RunConfig, folder: Path, target: ModelSpec) -> RunConfig:
    """The run's config, writing to `folder` (a run folder of its own), `target` the model."""
    models = config.models.model_copy(update={"target": target})
    return config.model_copy(
        update={"runs_dir": folder.parent, "name": folder.name, "models": models}
    )


def previous_elites(paths: RunPaths, index: int) -> list[str]:
    """The plain requests of the last round's archive: seeds that attacked the model before."""
    path = RunPaths(paths.round_redteam(index - 1)).redteam_archive
    if index < 2 or not path.is_file():
        return []
    archive = Archive.from_json(json.loads(path.read_text(encoding="utf-8")))
    return sorted({elite.request for elite in archive.cells.values()})


def redteam_pairs(config: RunConfig, index: int, target: ModelSpec) -> list[dict[str, Any]]:
    """Run (or resume) round `index`'s archive against `target`; its pairs whose chosen passed."""
    assert config.redteam is not None
    paths = RunPaths(config.run_dir)
    seeds = [*config.redteam.seeds, *previous_elites(paths, index)]
    settings = config.redteam.model_copy(update={"seeds": list(dict.fromkeys(seeds))})
    folder = paths.round_redteam(index)
    sub = sub_run_config(config, folder, target).model_copy(update={"redteam": settings})
    result = redteam.run(sub)
    pairs_file = result.paths["pairs"]
    text = pairs_file.read_text(encoding="utf-8") if pairs_file.is_file() else ""
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    verdicts = chosen_verdicts(config, sub, paths.round_redteam_verdicts(index), rows)
    judge = config.stages.judge
    safe = GOOD_VERDICTS[judge_kind(make_judge(judge.judge, judge.settings))][0]
    model = target.model
    return [
        pair_row(
            str(row["prompt"]),
            str(row["chosen"]),
            str(row["rejected"]),
            index,
            "redteam",
            rejected_model=model,
            judge=settings.judge,
            rejected_verdict="unsafe",
        )
        for row in rows
        if verdicts.get(_key(row)) in safe
    ]


def _key(row: dict[str, Any]) -> str:
    text = json.dumps([row.get("prompt"), row.get("chosen")], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def chosen_verdicts(
    config: RunConfig, sub: RunConfig, path: Path, rows: list[dict[str, Any]]
) -> dict[str, str]:
    """The pair judge's verdict on each chosen answer, kept in `path`; a judge error is not
    kept, so it is asked again next run."""
    try:
        known: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    todo = [row for row in rows if _key(row) not in known]
    if todo:
        known.update(asyncio.run(_judge(config, sub, todo)))
        RunStore(config.run_dir).write_text(path, json.dumps(known, indent=1) + "\n")
    return known


async def _judge(config: RunConfig, sub: RunConfig, rows: list[dict[str, Any]]) -> dict[str, str]:
    settings = config.stages.judge
    judge = make_judge(settings.judge, settings.settings)
    found: dict[str, str] = {}
    async with open_run(sub) as ctx:
        jctx = JudgeContext(
            templates=ctx.templates, model=ctx.role("judge") if judge.needs_model else None
        )
        for row in rows:
            item = JudgeInput(prompt=str(row["prompt"]), response=str(row["chosen"]))
            try:
                score = await judge.score(item, jctx)
            except Exception:  # a judge that raises is a judge error, never a verdict
                continue
            if score.verdict != "error":
                found[_key(row)] = score.verdict
    return found
