"""The contract checks fail, with a message that says why, on plugins that break a contract."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from sagert.attacks.base import TransformContext, TransformError, TransformResult
from sagert.attacks.common import AttackStyle, attack
from sagert.core.registry import Registry
from sagert.engine.stage import stages
from sagert.generation.formats import TaskFormat, formats
from sagert.judges.base import (
    JudgeCallError,
    JudgeContext,
    JudgeInput,
    Score,
    ask_chat,
    error_score,
    judge_settings,
    judges,
)
from sagert.loaders import loaders
from sagert.models.provider import providers
from sagert.models.providers.mock import MockProvider
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message
from sagert.store.records import Record
from sagert.taxonomy import Taxonomy, taxonomies
from sagert.testing.contracts import (
    ContractError,
    check_attack,
    check_format,
    check_judge,
    check_loader,
    check_plugin,
    check_provider,
    check_stage,
    check_taxonomy,
    isolated_registries,
    parametrize,
    plugin_names,
)


@pytest.fixture(autouse=True)
def _isolated() -> Iterator[None]:
    with isolated_registries():
        yield


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GoodJudge:
    """A judge that keeps the contract: the base the broken ones below change one thing of."""

    name: ClassVar[str] = "good_judge"
    needs_model: ClassVar[bool] = True
    description: ClassVar[str] = "yes is unsafe"

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        judge_settings(_Settings, settings, self.name)

    async def score(self, item: JudgeInput, ctx: JudgeContext) -> Score:
        text = f"{item.prompt}\n{item.response or ''}"
        try:
            raw = await ask_chat(ctx, [Message(role="user", content=text)], GenerateConfig())
        except JudgeCallError as exc:
            return error_score(self.name, exc.reason, exc.raw)
        if raw.strip() not in ("yes", "no"):
            return error_score(self.name, "not yes or no", raw)
        return Score(judge=self.name, verdict="unsafe" if raw.strip() == "yes" else "safe")


def _register_judge(cls: type[Any]) -> type[Any]:
    judges.add(cls.name, cls)
    return cls


def test_a_good_judge_passes() -> None:
    check_judge(_register_judge(GoodJudge), answer="no")


def test_an_unregistered_judge_fails() -> None:
    with pytest.raises(ContractError, match="not registered under its name"):
        check_judge(GoodJudge, answer="no")


def test_a_judge_that_turns_a_failure_into_a_verdict_fails() -> None:
    class Hopeful(GoodJudge):
        name: ClassVar[str] = "hopeful"

        async def score(self, item: JudgeInput, ctx: JudgeContext) -> Score:
            result = await super().score(item, ctx)
            return result if not result.is_error else Score(judge=self.name, verdict="safe")

    with pytest.raises(ContractError, match="gave verdict 'safe'"):
        check_judge(_register_judge(Hopeful), answer="no")


def test_a_judge_that_drops_the_raw_answer_fails() -> None:
    class Forgetful(GoodJudge):
        name: ClassVar[str] = "forgetful"

        async def score(self, item: JudgeInput, ctx: JudgeContext) -> Score:
            result = await super().score(item, ctx)
            return result.model_copy(update={"raw": None})

    with pytest.raises(ContractError, match="raw answer was not kept"):
        check_judge(_register_judge(Forgetful), answer="no")


def test_a_judge_that_accepts_any_setting_fails() -> None:
    class Lax(GoodJudge):
        name: ClassVar[str] = "lax"

        def __init__(self, settings: dict[str, Any] | None = None) -> None:
            self.settings = settings

    with pytest.raises(ContractError, match="unknown setting was accepted"):
        check_judge(_register_judge(Lax), answer="no")


def test_a_judge_that_signs_with_another_name_fails() -> None:
    class Impostor(GoodJudge):
        name: ClassVar[str] = "impostor"

        async def score(self, item: JudgeInput, ctx: JudgeContext) -> Score:
            result = await super().score(item, ctx)
            return result.model_copy(update={"judge": "good_judge"})

    with pytest.raises(ContractError, match="named the judge 'good_judge'"):
        check_judge(_register_judge(Impostor), answer="no")


def test_a_judge_with_malformed_languages_fails() -> None:
    class Babel(GoodJudge):
        name: ClassVar[str] = "babel"
        languages: ClassVar[Any] = ("English", "es")

    with pytest.raises(ContractError, match="ISO 639-1"):
        check_judge(_register_judge(Babel), answer="no")

    class Polyglot(GoodJudge):
        name: ClassVar[str] = "polyglot"
        languages: ClassVar[Any] = None

    check_judge(_register_judge(Polyglot), answer="no")


def test_a_judge_that_never_sends_the_response_fails() -> None:
    class Blind(GoodJudge):
        name: ClassVar[str] = "blind"

        async def score(self, item: JudgeInput, ctx: JudgeContext) -> Score:
            blind = JudgeInput(item.prompt, "" if item.response is not None else None)
            return await super().score(blind, ctx)

    with pytest.raises(ContractError, match="response was not sent"):
        check_judge(_register_judge(Blind), answer="no")


class Upper(AttackStyle):
    name = "upper_test"
    description = "Upper case."

    async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
        return TransformResult(text.upper(), args={"n": ctx.rng.randrange(3)})


def test_a_good_attack_passes_and_an_unregistered_one_fails() -> None:
    with pytest.raises(ContractError, match="decorate the class with @attack"):
        check_attack(Upper)
    check_attack(attack(Upper))


def test_an_attack_that_ignores_the_seed_fails() -> None:
    @attack
    class Dice(Upper):
        name = "dice_test"

        async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
            return TransformResult(text.upper(), args={"n": random.SystemRandom().random()})

    with pytest.raises(ContractError, match=r"draw every choice from ctx\.rng"):
        check_attack(Dice)


def test_an_attack_that_changes_nothing_or_keeps_odd_args_fails() -> None:
    @attack
    class Same(Upper):
        name = "same_test"

        async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
            return TransformResult(text)

    @attack
    class OddArgs(Upper):
        name = "odd_args_test"

        async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
            return TransformResult(text.upper(), args={"chosen": {1, 2}})

    with pytest.raises(ContractError, match="returned the request unchanged"):
        check_attack(Same)
    with pytest.raises(ContractError, match="must serialise"):
        check_attack(OddArgs)


def test_an_llm_attack_that_hides_a_failed_call_fails() -> None:
    @attack
    class Quiet(Upper):
        name = "quiet_test"
        deterministic = False

        async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
            model = ctx.require_model(self.name)
            try:
                out = await model.generate([Message(role="user", content=text)], GenerateConfig())
            except Exception:
                return TransformResult(text + " (rewrite failed)")
            if not out.text.strip():
                raise TransformError("empty")
            return TransformResult(out.text)

    with pytest.raises(ContractError, match="when the model fails it returned"):
        check_attack(Quiet)


def test_a_provider_with_the_wrong_name_fails() -> None:
    def make(spec: ModelSpec) -> MockProvider:
        return MockProvider("other/name")

    providers.add("fakeprov", make)
    with pytest.raises(ContractError, match="name is 'other/name'"):
        check_provider(make, ModelSpec(model="fakeprov/x"))
    with pytest.raises(ContractError, match="not registered"):
        check_provider(make, ModelSpec(model="unregistered/x"))


def test_a_loader_without_stable_ids_fails(tmp_path: Path) -> None:
    def sloppy(path: Path, opts: Any) -> Iterator[Record]:
        for i, line in enumerate(path.read_text().splitlines()):
            meta = {"source": opts.name, "row": i}
            yield Record(id="same", stage="source", prompt=line, seed_prompt=line, meta=meta)

    loaders.add("sloppy", sloppy, "a loader that reuses one id")
    sample = tmp_path / "prompts.csv"
    sample.write_text("one\ntwo\n")
    with pytest.raises(ContractError, match=r"record 0: id is not stable_id"):
        check_loader("sloppy", sample)


def test_a_loader_that_crashes_on_a_bad_file_fails(tmp_path: Path) -> None:
    sample = tmp_path / "good.csv"
    sample.write_text("prompt\nhello\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n")
    check_loader("generic", sample, bad=bad)
    with pytest.raises(ContractError, match="was accepted"):
        check_loader("generic", sample, bad=sample)


def test_formats_taxonomies_and_stages_fail_with_a_reason() -> None:
    terse = TaskFormat(name="terse", description="a memo")
    formats.add("terse", terse)
    with pytest.raises(ContractError, match="shorter than"):
        check_format(terse)

    tree = Taxonomy.from_dict(
        {
            "name": "renamed",
            "title": "t",
            "source": "s",
            "license": "l",
            "nodes": [{"key": "a", "name": "A", "description": "the a harm"}],
        }
    )
    taxonomies.add("misnamed", lambda: tree, "a tree under another name")
    with pytest.raises(ContractError, match="the tree is named 'renamed'"):
        check_taxonomy("misnamed")

    class IdleSettings(BaseModel):
        pass

    class Idle:
        name: ClassVar[str]
        needs: ClassVar[tuple[str, ...]] = ()
        makes: ClassVar[tuple[str, ...]] = ("x",)
        Settings: ClassVar[type[BaseModel]] = IdleSettings

        def __init__(self, settings: IdleSettings) -> None:
            self.settings = settings

        def spec(self) -> dict[str, Any]:
            return {}

        def roles(self) -> tuple[str, ...]:
            return ()

        async def process(self, record: Any, ctx: Any) -> list[Any]:
            return [record]

    stages.add("idle_test", Idle)
    with pytest.raises(ContractError, match="no `needs`"):
        check_stage(Idle)

    class Unset(Idle):
        Settings = None  # type: ignore[assignment]

    stages.add("unset_test", Unset)
    with pytest.raises(ContractError, match="needs a class attribute `Settings`"):
        check_stage(Unset)


def test_check_plugin_dispatches_by_kind_and_names_filter_by_package() -> None:
    _register_judge(GoodJudge)
    check_plugin("judges", "good_judge", answer="no")
    _register_judge(type("Sure", (GoodJudge,), {"name": "sure", "score": _always_safe}))
    with pytest.raises(ContractError, match="judge 'sure': an unparseable answer gave verdict"):
        check_plugin("judges", "sure", answer="no")
    assert "good_judge" in plugin_names("judges", package=__name__)
    assert "refusal" not in plugin_names("judges", package=__name__)
    assert "refusal" in plugin_names("judges", package="sagert")
    with pytest.raises(ValueError, match="unknown plugin kind"):
        plugin_names("widgets")
    mark = parametrize("judges", package=__name__)
    assert mark.args == ("name", plugin_names("judges", package=__name__))


async def _always_safe(self: Any, item: JudgeInput, ctx: JudgeContext) -> Score:
    return Score(judge=self.name, verdict="safe")


def test_isolated_registries_forget_what_was_registered() -> None:
    local = Registry[int]("thing")
    local.add("a", 1)
    saved = local.snapshot()
    local.add("b", 2)
    local.restore(saved)
    assert local.names() == ["a"]
