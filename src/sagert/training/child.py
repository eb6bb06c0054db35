"""Training in a child process, so the caller's memory drops back once training ends.

torch and the allocator keep a training's gigabytes for the life of the process; `sagert
align` then evaluates for much longer than it trained. The child is `python -m
sagert.training.child REQUEST`: it trains, writes `train_result.json` as an in-process
training does, and writes its UserError (if any) to the request's error file, which the
parent raises again as the same one-line error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sagert.core.errors import UserError
from sagert.settings.train import TrainSettings
from sagert.training.trainer import TrainResult, finished_training, train


def train_in_child(export: Path, settings: TrainSettings, output_dir: Path) -> TrainResult:
    """`train(...)` in a fresh interpreter; its output and progress go to this terminal."""
    output_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".train-error-", suffix=".json", dir=output_dir)
    os.close(fd)
    error_file = Path(name)
    request = {
        "export": str(export),
        "settings": settings.model_dump(mode="json"),
        "output_dir": str(output_dir),
        "error_file": str(error_file),
    }
    try:
        code = subprocess.run(
            [sys.executable, "-m", "sagert.training.child", json.dumps(request)], check=False
        ).returncode
        error = error_file.read_text(encoding="utf-8")
    finally:
        error_file.unlink(missing_ok=True)
    if error:
        data = json.loads(error)
        raise UserError(data["message"], file=data["file"], field=data["field"], fix=data["fix"])
    done = finished_training(output_dir, settings)
    if code != 0 or done is None:
        raise UserError(
            f"training stopped (exit code {code}); its error is printed above",
            file=output_dir,
            fix="fix what the training printed, then run again (checkpoints resume)",
        )
    return done


def main(argv: list[str]) -> int:
    request = json.loads(argv[0])
    settings = TrainSettings.model_validate(request["settings"])
    try:
        train(Path(request["export"]), settings, Path(request["output_dir"]))
    except UserError as exc:
        error = {"message": exc.message, "file": exc.file, "field": exc.field, "fix": exc.fix}
        Path(request["error_file"]).write_text(json.dumps(error), encoding="utf-8")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
