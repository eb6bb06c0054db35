"""Budgets: calls, tokens and cost, per run and per role. A run stops at a record boundary,
says which budget in one line, exits 0, and a later run with a higher budget finishes with
exactly the records of a run without one."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from conftest import env_with_tests, sagert_cmd
from sagert.engine.summary import stopped_by
from sagert.models.budget import BudgetReached, Ledger, SpendReport
from sagert.models.cache import ResponseCache
from sagert.models.model import Model
from sagert.models.providers.mock import MockProvider
from sagert.models.spec import Budget, ModelSpec, Price
from sagert.models.types import GenerateConfig, Message
from sagert.settings.run import RunConfig
from sagert.workflows import respond
from test_export import mock_run_config


def _ask(i: int) -> list[Message]:
    return [Message(role="user", content=f"question {i} with five words")]


def test_a_call_budget_is_exact_under_concurrency():
    async def go() -> tuple[int, int, int]:
        provider = MockProvider("mock/m", default="one two three", delay=0.01)
        model = Model(provider, max_connections=64)
        ledger = Ledger(Budget(calls=5))
        account = ledger.account("generator", None, None)
        results = await asyncio.gather(
            *(model.generate(_ask(i), budget=account) for i in range(20)), return_exceptions=True
        )
        refused = sum(isinstance(r, BudgetReached) for r in results)
        return len(provider.received), refused, ledger.total.calls

    assert asyncio.run(go()) == (5, 15, 5)


def test_tokens_cost_and_a_roles_own_budget():
    async def go() -> None:
        model = Model(MockProvider("mock/m", default="one two three"))
        ledger = Ledger(Budget(tokens=20))
        account = ledger.account("target", None, None)
        for i in range(3):  # 5 prompt + 3 completion tokens each
            await model.generate(_ask(i), budget=account)
        assert ledger.total.tokens == 24 and ledger.reached() is not None
        with pytest.raises(BudgetReached, match=r"run tokens 24 of 20 \(budget\)"):
            await model.generate(_ask(9), budget=account)

        price = Price(prompt_per_1m=1_000_000.0, completion_per_1m=0.0)  # $1 a prompt token
        ledger = Ledger(None)
        judge = ledger.account("judge", Budget(cost_usd=9.0), price)
        other = ledger.account("target", None, None)
        await model.generate(_ask(1), budget=judge)
        await model.generate(_ask(2), budget=judge)
        assert judge.spend.cost_usd == pytest.approx(10.0)
        with pytest.raises(BudgetReached, match=r"role judge cost_usd 10\.0000 of 9 "):
            await model.generate(_ask(3), budget=judge)
        await model.generate(_ask(4), budget=other)  # another role is not held to it
        assert ledger.reached(("target",)) is None
        assert ledger.reached(("judge",)) == (
            "budget reached: role judge cost_usd 10.0000 of 9 (models.judge.budget)"
        )

    asyncio.run(go())


def test_cache_hits_are_free_and_spend_carries_over(tmp_path: Path):
    async def go() -> None:
        cache = ResponseCache(tmp_path / "c.sqlite")
        model = Model(MockProvider("mock/m", default="ok"), cache=cache)
        ledger = Ledger(Budget(calls=1))
        account = ledger.account("generator", None, None)
        config = GenerateConfig(seed=1)
        await model.generate(_ask(1), config, budget=account)
        again = await model.generate(_ask(1), config, budget=account)  # from the cache
        assert again.cached and ledger.total.calls == 1
        later = Ledger(Budget(calls=1), SpendReport.model_validate(ledger.report().model_dump()))
        with pytest.raises(BudgetReached):
            await model.generate(_ask(2), budget=later.account("generator", None, None))
        cache.close()

    asyncio.run(go())


def test_budget_settings_are_checked():
    config = RunConfig.model_validate(
        {
            "budget": {"calls": 10, "tokens": 1000, "cost_usd": 2.5},
            "models": {
                "judge": {
                    "model": "openai/x",
                    "base_url": "http://a/v1",
                    "budget": {"cost_usd": 1.0},
                    "price": {"prompt_per_1m": 0.15, "completion_per_1m": 0.6},
                }
            },
        }
    )
    assert config.budget is not None and config.budget.calls == 10
    with pytest.raises(ValueError, match="needs the model's price"):
        ModelSpec.model_validate({"model": "mock/m", "budget": {"cost_usd": 1.0}})
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        RunConfig.model_validate({"budget": {"calls": -1}})


# -- whole runs ------------------------------------------------------------------------------


def _generate(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sagert_cmd(), "generate", str(config)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env_with_tests(),
        timeout=300,
    )


def _stage_records(run_dir: Path) -> dict[str, dict[str, dict]]:
    out = {}
    for path in sorted((run_dir / "stages").glob("*.jsonl")):
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
        by_id = {r["id"]: r for r in rows}
        assert len(by_id) == len(rows), path.name  # nothing written twice
        out[path.name] = by_id
    return out


def _spent(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())["spent"]["total"]


def test_generate_stops_at_a_call_budget_and_resumes_to_the_same_records(
    tmp_path: Path, write_config
):
    data = {**mock_run_config("pipeline", n_samples=12), "export": {"formats": ["trl"]}}
    full = _generate(write_config({**data, "name": "full"}, "full.yaml"), tmp_path)
    assert full.returncode == 0, full.stderr
    assert "budget reached" not in full.stdout
    needed = _spent(tmp_path / "runs" / "full")["calls"]
    assert needed > 40

    budget = needed // 2
    config = write_config({**data, "budget": {"calls": budget}})
    first = _generate(config, tmp_path)
    assert first.returncode == 0, first.stderr
    lines = [x for x in first.stdout.splitlines() if "budget reached" in x]
    assert lines == [
        f"budget reached: run calls {budget} of {budget} (budget): stopped at a record"
        " boundary; raise it and run again to resume"
    ], first.stdout
    run_dir = tmp_path / "runs" / "x"
    assert _spent(run_dir)["calls"] == budget  # exact: no call past it
    assert not (run_dir / "export").exists()  # no export of half a dataset
    reference = _stage_records(tmp_path / "runs" / "full")
    partial = _stage_records(run_dir)
    assert partial and sum(len(v) for v in partial.values()) < sum(
        len(v) for v in reference.values()
    )
    for name, records in partial.items():  # nothing half-done, no failure the budget caused
        for rid, record in records.items():
            assert reference[name][rid] == record, (name, rid)

    again = _generate(config, tmp_path)  # the same budget: nothing more is spent
    assert again.returncode == 0 and "budget reached" in again.stdout
    assert _spent(run_dir)["calls"] == budget and _stage_records(run_dir) == partial

    config = write_config({**data, "budget": {"calls": needed * 10}})
    last = _generate(config, tmp_path)
    assert last.returncode == 0, last.stderr
    assert "budget reached" not in last.stdout
    assert _stage_records(run_dir) == reference
    assert (run_dir / "export" / "train.jsonl").is_file()
    # the calls of the records the budget left unwritten were cached: nothing was paid twice
    assert _spent(run_dir)["calls"] == needed


def test_respond_stops_at_a_roles_token_budget(tmp_path: Path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"question number {i}\n" for i in range(50)))
    target = {"model": "mock/t", "args": {"delay": 0.001}}

    def config(budget: dict | None) -> RunConfig:
        spec = {**target, **({"budget": budget} if budget else {})}
        return RunConfig.model_validate(
            {
                "runs_dir": str(tmp_path / "runs"),
                "name": "r",
                "models": {"target": spec},
                "stages": {"respond": {"concurrency": 2}},
            }
        )

    summary = respond.run(config({"tokens": 100}), prompts)
    assert summary.stopped is not None and "role target tokens" in summary.stopped
    assert "(models.target.budget)" in summary.stopped
    assert summary.failed == 0 and 0 < summary.written < 50
    # tokens are known when an answer comes back: the calls in flight then may pass it a little
    spent = json.loads((tmp_path / "runs" / "r" / "manifest.json").read_text())["spent"]
    assert (
        100
        <= spent["roles"]["target"]["prompt_tokens"] + spent["roles"]["target"]["completion_tokens"]
        < 100 + 2 * 10
    )
    assert stopped_by([summary]) == summary.stopped
    summary = respond.run(config(None), prompts)
    assert summary.stopped is None and summary.failed == 0
    rows = (tmp_path / "runs" / "r" / "stages" / "respond.jsonl").read_text().splitlines()
    assert len(rows) == 50 and len({json.loads(r)["id"] for r in rows}) == 50
