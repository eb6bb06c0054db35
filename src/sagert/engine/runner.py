"""Run one stage over a stream of records: bounded concurrency, resume, no record lost."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from sagert.engine.calls import add_rates, role_shares, stats_delta
from sagert.engine.context import RunContext
from sagert.engine.stage import RecordStage
from sagert.engine.summary import StageSummary
from sagert.models.budget import BudgetReached
from sagert.store.records import Record

log = logging.getLogger(__name__)


async def run_stage(
    stage: RecordStage,
    inputs: Iterable[Record],
    ctx: RunContext,
    *,
    concurrency: int = 64,
    on_progress: Callable[[int], None] | None = None,
) -> StageSummary:
    """Each input yields its outputs in one append; an input already done is skipped."""
    summary = StageSummary(stage.name)
    started = time.perf_counter()
    roles = stage.roles()
    for role in roles:
        ctx.role(role)
    stats_before = ctx.models.stats_by_model()
    spend_before = ctx.budget.report().model_dump()["roles"]
    with ctx.store.stage_file(stage.name) as out:
        summary.torn_bytes_dropped = out.torn_bytes
        if ctx.retry_failed:
            summary.retried = out.set_aside_failed()
        failed_before = out.failed
        in_flight: set[str] = set()
        slots = asyncio.Semaphore(concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def one(record: Record) -> None:
            try:
                try:
                    results = await _work(stage, record, ctx)
                except BudgetReached as exc:
                    # Not a failure: the record is left unwritten, for the next run.
                    summary.stopped = summary.stopped or str(exc)
                    summary.deferred += 1
                    return
                out.append(results)
                summary.written += len(results)
                for r in results:
                    if r.failure is not None:
                        reason = _reason_group(r.failure.reason)
                        summary.failure_reasons[reason] = summary.failure_reasons.get(reason, 0) + 1
            finally:
                in_flight.discard(record.id)
                slots.release()
                if on_progress:
                    on_progress(1)

        for record in inputs:
            if out.is_done(record.id) or record.id in in_flight:
                summary.inputs += 1
                summary.skipped_done += 1
                if on_progress:
                    on_progress(1)
                continue
            await slots.acquire()
            summary.stopped = summary.stopped or ctx.budget.reached(roles)
            if summary.stopped:
                slots.release()  # a budget is reached: start no further record
                break
            summary.inputs += 1
            in_flight.add(record.id)
            task = asyncio.create_task(one(record))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        summary.failed = out.failed - failed_before
    summary.seconds = time.perf_counter() - started
    summary.calls = add_rates(
        stats_delta(stats_before, ctx.models.stats_by_model()), summary.seconds
    )
    spend_after = ctx.budget.report().model_dump()["roles"]
    summary.roles = role_shares(spend_before, spend_after, summary.seconds)
    ctx.store.record_stage(stage.name, stage.spec(), summary.as_dict(), spent=ctx.budget.report())
    return summary


async def _work(stage: RecordStage, record: Record, ctx: RunContext) -> list[Record]:
    """One input's outputs: here, or on the run's workers (the Ray executor)."""
    if ctx.workers is not None:
        return await ctx.workers.process(stage, record, ctx)
    return await process_safely(stage, record, ctx)


async def process_safely(stage: RecordStage, record: Record, ctx: RunContext) -> list[Record]:
    """A bug or surprise in one record becomes that record's failure, not the run's crash."""
    try:
        results = await stage.process(record, ctx)
    except Exception as exc:
        log.error("%s: record %s failed: %s: %s", stage.name, record.id, type(exc).__name__, exc)
        return [record.failed(stage.name, f"{type(exc).__name__}: {exc}")]
    if not results:
        return [record.failed(stage.name, "the stage produced no output for this record")]
    for r in results:
        if r.parent_id != record.id:
            raise RuntimeError(f"{stage.name}: output {r.id} does not point back to {record.id}")
    return results


def _reason_group(reason: str) -> str:
    """Group failures by kind: drop the specifics in parentheses and after a colon's detail."""
    head = reason.split("(", 1)[0].strip()
    return head[:120] or reason[:120]
