"""Where everything in a run folder lives: the one place that knows the layout.

Every other module asks a `RunPaths` for a path; none joins names onto a run folder itself, so
the layout can change here alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STAGES_DIR = "stages"
EXPORT_DIR = "export"
TRAIN_DIR = "train"
ALIGN_DIR = "align"
GUARD_LOOP_DIR = "guard_loop"
ROUNDS_DIR = "rounds"
PROMPT_STAGES = (
    "gate_attack",
    "attack",
    "dedup",
    "gate_evolve",
    "evolve",
    "gate_extract",
    "extract",
)
"""The stages that hold a run's prompt set, latest first: the first with records is it (a
gate's file holds the prompts that passed it as its ok records)."""


@dataclass(frozen=True)
class RunPaths:
    """`runs/<name>/` and the files in it."""

    root: Path

    @property
    def stages_dir(self) -> Path:
        return self.root / STAGES_DIR

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def cache(self) -> Path:
        return self.root / "cache.sqlite"

    @property
    def log(self) -> Path:
        return self.root / "sagert.log"

    @property
    def taxonomy(self) -> Path:
        """The expanded taxonomy (`sagert taxonomy expand`, the expand stage)."""
        return self.root / "taxonomy.yaml"

    @property
    def results_csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def summary_json(self) -> Path:
        return self.root / "summary.json"

    @property
    def judge_eval_json(self) -> Path:
        """`sagert judge-eval`'s agreement figures (the same as its --json file)."""
        return self.root / "judge_eval.json"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def align_json(self) -> Path:
        return self.root / "align.json"

    @property
    def heldout_prompts(self) -> Path:
        """The generated prompts `sagert align` evaluates on (seed split, never trained on)."""
        return self.root / ALIGN_DIR / "heldout_prompts.jsonl"

    @property
    def train_prompts(self) -> Path:
        """The training prompts each `sagert align --rounds` round's model answers (seed split:
        not held out; each with a chosen answer the run's judge passed)."""
        return self.root / ALIGN_DIR / "train_prompts.jsonl"

    @property
    def rounds_dir(self) -> Path:
        return self.root / ROUNDS_DIR

    def round_dir(self, index: int) -> Path:
        """Round `index` (1, 2, ...) of `sagert align --rounds`; round 0 is train/<method>."""
        return self.rounds_dir / f"r{index}"

    def round_answers(self, index: int) -> Path:
        """A run folder of its own: the previous round's model answering the training prompts,
        each answer judged (an evaluation, resumed like any)."""
        return self.round_dir(index) / "answers"

    def round_redteam(self, index: int) -> Path:
        """A run folder of its own: the redteam archive against the previous round's model."""
        return self.round_dir(index) / "redteam"

    def round_redteam_verdicts(self, index: int) -> Path:
        """The pair judge's verdicts on the red-team chosen answers (asked once each)."""
        return self.round_dir(index) / "redteam_chosen.json"

    def round_pairs(self, index: int) -> Path:
        """The round's training pairs (TRL's standard format): its model's unsafe answers."""
        return self.round_dir(index) / "train.jsonl"

    def round_inputs(self, index: int) -> Path:
        """What the round's training was made from (pairs and model), to retrain on a change."""
        return self.round_dir(index) / "inputs.json"

    def round_train_dir(self, index: int, name: str) -> Path:
        return self.round_dir(index) / name

    @property
    def redteam_archive(self) -> Path:
        """`sagert redteam`'s MAP-Elites archive (rewritten atomically every iteration)."""
        return self.root / "redteam_archive.json"

    @property
    def redteam_report(self) -> Path:
        return self.root / "redteam.html"

    @property
    def redteam_prompts(self) -> Path:
        """The archive's elites as a prompt set `sagert evaluate` reads (generic loader)."""
        return self.export_file("redteam_prompts.jsonl")

    @property
    def redteam_pairs(self) -> Path:
        """The archive's successful elites as DPO pairs (TRL's standard format)."""
        return self.export_file("redteam_train.jsonl")

    @property
    def export_dir(self) -> Path:
        return self.root / EXPORT_DIR

    def export_file(self, name: str) -> Path:
        return self.export_dir / name

    @property
    def trl_export(self) -> Path:
        """What `sagert train` reads: TRL's standard preference format."""
        return self.export_file("train.jsonl")

    @property
    def train_root(self) -> Path:
        return self.root / TRAIN_DIR

    def train_dir(self, method: str) -> Path:
        return self.train_root / method

    @property
    def guard_loop_dir(self) -> Path:
        """`sagert guard-loop`: one folder per round, and the summary."""
        return self.root / GUARD_LOOP_DIR

    @property
    def guard_loop_summary(self) -> Path:
        return self.guard_loop_dir / "summary.json"

    def guard_round(self, number: int) -> GuardRoundPaths:
        return GuardRoundPaths(self.guard_loop_dir / f"round-{number}")

    def stage(self, name: str) -> Path:
        """A stage's append-only record file."""
        return self.stages_dir / f"{name}.jsonl"

    def stage_side(self, name: str, part: str) -> Path:
        """A file that belongs to a stage beside its records (`dedup.removed.jsonl`, ...)."""
        return self.stages_dir / f"{name}.{part}"

    @property
    def benign(self) -> Path:
        """The prompts a prompt gate judged benign, with the reason (every gate's, one file)."""
        return self.stages_dir / "benign.jsonl"

    def stage_spool(self, name: str) -> Path:
        """A stage's scratch copy of its inputs (hidden; rewritten on every run)."""
        return self.stages_dir / f".{name}.inputs.jsonl"

    def stage_names(self) -> Iterator[str]:
        """Stages with a record file, in name order."""
        if self.stages_dir.is_dir():
            for path in sorted(self.stages_dir.glob("*.jsonl")):
                if path.stem.count(".") == 0:
                    yield path.stem

    def has_records(self, name: str) -> bool:
        path = self.stage(name)
        return path.is_file() and path.stat().st_size > 0


@dataclass(frozen=True)
class GuardRoundPaths:
    """One round of `sagert guard-loop`: what was asked, labelled, missed, and the new guard."""

    root: Path

    @property
    def candidates(self) -> Path:
        """The generator's pairs (and its failed requests, with the raw answers)."""
        return self.root / "candidates.jsonl"

    @property
    def labelled(self) -> Path:
        """Each pair with the teacher's labels and the round's starting guard's verdicts."""
        return self.root / "labelled.jsonl"

    @property
    def mistakes(self) -> Path:
        """The examples the starting guard got wrong: added to the training data."""
        return self.root / "mistakes.jsonl"

    @property
    def guard_dir(self) -> Path:
        """The guard trained in this round (its final/ folder inside)."""
        return self.root / "guard"

    @property
    def result(self) -> Path:
        """The round's figures; written last, so a round with one is done."""
        return self.root / "result.json"
