"""A guard training in a child process (`python -m sagert.training.guard_child REQUEST`).

As for DPO (training/child.py): torch keeps a training's memory for the life of the process,
and `sagert guard-loop` goes on scoring and generating after each training. The child writes
`guard_result.json`; its UserError comes back through the error file as the same one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sagert.core.errors import UserError
from sagert.training.guard import GuardRequest, GuardResult, finished_guard, train_guard


def train_guard_in_child(request: GuardRequest) -> GuardResult:
    """`train_guard(request)` in a fresh interpreter; its output goes to this terminal."""
    out = Path(request.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".guard-request-", suffix=".json", dir=out)
    os.close(fd)
    request_file = Path(name)
    error_file = request_file.with_suffix(".error")
    request_file.write_text(request.model_dump_json(), encoding="utf-8")
    try:
        code = subprocess.run(
            [sys.executable, "-m", "sagert.training.guard_child", str(request_file)], check=False
        ).returncode
        error = error_file.read_text(encoding="utf-8") if error_file.is_file() else ""
    finally:
        request_file.unlink(missing_ok=True)
        error_file.unlink(missing_ok=True)
    if error:
        data = json.loads(error)
        raise UserError(data["message"], file=data["file"], field=data["field"], fix=data["fix"])
    done = finished_guard(request)
    if code != 0 or done is None:
        raise UserError(
            f"guard training stopped (exit code {code}); its error is printed above",
            file=out,
            fix="fix what the training printed, then run again (checkpoints resume)",
        )
    return done


def main(argv: list[str]) -> int:
    request_file = Path(argv[0])
    request = GuardRequest.model_validate_json(request_file.read_text(encoding="utf-8"))
    try:
        train_guard(request)
    except UserError as exc:
        error = {"message": exc.message, "file": exc.file, "field": exc.field, "fix": exc.fix}
        request_file.with_suffix(".error").write_text(json.dumps(error), encoding="utf-8")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
