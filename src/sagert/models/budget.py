"""Budgets: calls, tokens and estimated cost, per role and per run, checked before each call.

What is spent is the run folder's, over every invocation (it is kept in manifest.json), so a
budget is the most the run may ever spend: the same command with the same budget does
nothing more, and with a higher one it carries on where it stopped.

Every call attempt passes `Account.admit` first. A call budget is exact: the call is counted
when admitted, so concurrent calls cannot overshoot it. Tokens and cost are known only when
an answer comes back, so calls already in flight when the limit is crossed finish, and may
overshoot it by their own size. When a limit is reached, `admit` raises `BudgetReached`: a
BaseException, like asyncio's CancelledError, because it is not a failure of the record
whose call it stops. Stages catch `Exception` to turn errors into failed records; this goes
through them, and the runner drops that record unwritten (its earlier answers are in the
cache, so the next run replays them without spending) and starts no further record.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sagert.models.spec import Budget, Price
from sagert.models.types import Usage


class BudgetReached(BaseException):  # a stop, not an error: see the module docstring
    """A budget refused a call: the run stops at a record boundary. The message is one line."""


class Spend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class SpendReport(BaseModel):
    """What a run folder has spent: in total and per role (manifest.json `spent`)."""

    model_config = ConfigDict(extra="forbid")

    total: Spend = Field(default_factory=Spend)
    roles: dict[str, Spend] = Field(default_factory=dict)


def exceeded(spent: Spend, budget: Budget | None, *, next_call: bool) -> str | None:
    """Which limit `spent` has reached ("calls 20 of 20"), or None.

    `next_call`: whether one more call would break the call limit (admission), rather than
    whether it is already used up (the runner's check before a record)."""
    if budget is None:
        return None
    if budget.calls is not None and spent.calls + (1 if next_call else 0) > budget.calls:
        return f"calls {spent.calls} of {budget.calls}"
    if budget.tokens is not None and spent.tokens >= budget.tokens:
        return f"tokens {spent.tokens} of {budget.tokens}"
    if budget.cost_usd is not None and spent.cost_usd >= budget.cost_usd:
        return f"cost_usd {spent.cost_usd:.4f} of {budget.cost_usd:g}"
    return None


class Ledger:
    """The run's spend and budgets; one Account per role draws on it."""

    def __init__(self, budget: Budget | None, before: SpendReport | None = None) -> None:
        self.budget = budget if budget is not None and budget.is_set() else None
        report = before.model_copy(deep=True) if before is not None else SpendReport()
        self.total = report.total
        self.roles = report.roles
        self._accounts: dict[str, Account] = {}

    def account(self, role: str, budget: Budget | None, price: Price | None) -> Account:
        if role not in self._accounts:
            spend = self.roles.setdefault(role, Spend())
            self._accounts[role] = Account(self, role, spend, budget, price)
        return self._accounts[role]

    def reached(self, roles: tuple[str, ...] = ()) -> str | None:
        """The one-line reason no record should start (the run's budget, or one of `roles`')."""
        why = exceeded(self.total, self.budget, next_call=False)
        if why is not None:
            return f"budget reached: run {why} (budget)"
        for role in roles:
            account = self._accounts.get(role)
            if account is not None:
                why = exceeded(account.spend, account.budget, next_call=False)
                if why is not None:
                    return f"budget reached: role {role} {why} (models.{role}.budget)"
        return None

    def absorb(self, role: str, spent: Spend) -> None:
        """Spending done elsewhere (a Ray worker's calls) for `role`, counted here."""
        mine = self.roles.setdefault(role, Spend())
        for spend in (mine, self.total):
            spend.calls += spent.calls
            spend.prompt_tokens += spent.prompt_tokens
            spend.completion_tokens += spent.completion_tokens
            spend.cost_usd += spent.cost_usd

    def report(self) -> SpendReport:
        return SpendReport(total=self.total.model_copy(), roles=dict(self.roles))


class Account:
    """One role's spend; `admit` before each call attempt, `charge` after each answer."""

    def __init__(
        self, ledger: Ledger, role: str, spend: Spend, budget: Budget | None, price: Price | None
    ) -> None:
        self.ledger = ledger
        self.role = role
        self.spend = spend
        self.budget = budget if budget is not None and budget.is_set() else None
        self.price = price

    def admit(self) -> None:
        ledger = self.ledger
        why = exceeded(ledger.total, ledger.budget, next_call=True)
        if why is not None:
            raise BudgetReached(f"budget reached: run {why} (budget)")
        why = exceeded(self.spend, self.budget, next_call=True)
        if why is not None:
            raise BudgetReached(
                f"budget reached: role {self.role} {why} (models.{self.role}.budget)"
            )
        ledger.total.calls += 1
        self.spend.calls += 1

    def charge(self, usage: Usage) -> None:
        cost = self.price.cost(usage.prompt_tokens, usage.completion_tokens) if self.price else 0.0
        for spend in (self.spend, self.ledger.total):
            spend.prompt_tokens += usage.prompt_tokens
            spend.completion_tokens += usage.completion_tokens
            spend.cost_usd += cost
