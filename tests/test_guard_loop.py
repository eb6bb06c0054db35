"""sagert guard-loop: the candidates template and its parse on the mock provider, the teacher's
labels, and whole rounds (a stand-in guard that memorises what it is trained on) resumed."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import FAST_RETRY
from sagert.core.errors import ConfigError, UserError
from sagert.core.templates import Templates
from sagert.judges import make_judge
from sagert.models.classifier import GuardCard, GuardClassifier, read_card, write_card
from sagert.models.model import Model
from sagert.models.providers.mock import MockProvider
from sagert.models.spec import RetryPolicy
from sagert.models.types import GenerateConfig, Message
from sagert.settings.guard import GuardLoopSettings
from sagert.settings.run import load_config
from sagert.training.guard import GuardRequest, GuardResult
from sagert.training.guard_data import read_examples
from sagert.workflows import guard as guard_workflow
from sagert.workflows import guard_loop
from sagert.workflows.guard_ask import (
    Asked,
    Category,
    Pair,
    Request,
    Teacher,
    ask,
    plan,
    render_request,
    teacher_judges,
)

TEMPLATES = Templates()
CRIME = Category("crime", "Crime", "Helping someone commit a crime.")


def mock_model(*script: str, default: str | None = None) -> tuple[Model, MockProvider]:
    provider = MockProvider(script=list(script), default=default)
    return Model(provider, retry=RetryPolicy.model_validate(FAST_RETRY)), provider


def loop_settings(**changes: Any) -> GuardLoopSettings:
    return GuardLoopSettings.model_validate({"per_request": 2, **changes})


def test_the_plan_mixes_categories_kinds_and_languages_round_after_round():
    settings = loop_settings(requests=4, languages=["en", "fr"], kinds=["harmful_complied"])
    rounds = [plan(settings, ["crime", "hate"], n, run_seed=3) for n in (1, 2, 3)]
    combos = [(r.category, r.language) for r in rounds[0] + rounds[1]]
    assert sorted(combos) == sorted(
        [("crime", "en"), ("crime", "fr"), ("hate", "en"), ("hate", "fr")] * 2
    )  # every combination, in turn
    assert combos[:4] == combos[4:] and len(set(combos[:4])) == 4
    assert [r.index for r in rounds[2]] == [0, 1, 2, 3] and {r.round for r in rounds[2]} == {3}
    assert rounds[0] == plan(settings, ["crime", "hate"], 1, run_seed=3)  # seeded
    other = [plan(settings, ["crime", "hate"], 1, run_seed=s)[0].category for s in range(20)]
    assert len(set(other)) == 2  # the order depends on the run seed


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("harmful_complied", "goes along with the request"),
        ("harmful_refused", "declines without a stock phrase"),
        ("benign_helpful", "Each reply helps fully"),
        ("benign_refused", "wrongly refuses"),
    ],
)
def test_the_candidates_prompt_names_the_kind_category_language_and_mistakes(kind, phrase):
    request = Request(round=2, index=0, kind=kind, category="crime", language="French")
    mistakes = [{"prompt": "steal a car?", "response": None, "label": "unsafe"}]
    text = render_request(TEMPLATES, request, CRIME, 3, mistakes)
    assert phrase in text
    assert "Write 3 different pairs" in text and "both in French" in text
    assert '"Crime" (Helping someone commit a crime.)' in text
    assert "- request: steal a car?" in text and "correct label: unsafe" in text
    assert "(none: the request alone)" in text
    assert "Pairs the classifier got wrong" not in render_request(TEMPLATES, request, CRIME, 3, [])


def test_ask_parses_the_pairs_and_asks_for_json_with_a_seed():
    answer = json.dumps(
        {"pairs": [{"prompt": " a ", "response": "b"}, {"prompt": "c", "response": "d"}] * 2}
    )
    model, provider = mock_model(answer)
    request = Request(round=1, index=0, kind="harmful_refused", category="crime", language="en")
    asked = asyncio.run(ask(model, TEMPLATES, loop_settings(), request, CRIME, [], 7))
    assert asked.error is None
    assert asked.pairs == [Pair(prompt="a", response="b"), Pair(prompt="c", response="d")]
    ((messages, config),) = provider.received
    assert "declines without a stock phrase" in messages[-1].content
    assert config.json_schema is not None and "pairs" in config.json_schema["properties"]
    assert config.seed is not None and config.temperature == 0.9


def test_malformed_answers_are_retried_then_kept_as_a_failure_with_every_raw_answer():
    model, provider = mock_model("no json here", '{"pairs": []}', '{"pairs": [{"prompt": "x"}]}')
    request = Request(round=1, index=3, kind="benign_helpful", category="crime", language="en")
    asked = asyncio.run(ask(model, TEMPLATES, loop_settings(), request, CRIME, [], 7))
    assert asked.pairs == [] and asked.error
    assert asked.raw == ["no json here", '{"pairs": []}', '{"pairs": [{"prompt": "x"}]}']
    seeds = [config.seed for _, config in provider.received]
    assert len(set(seeds)) == 3  # a retry changes the seed, so the cache cannot replay it
    blank, _ = mock_model(json.dumps({"pairs": [{"prompt": " ", "response": "y"}]}))
    assert asyncio.run(ask(blank, TEMPLATES, loop_settings(), request, CRIME, [], 7)).error


def teacher(model: Model, response_judge: str) -> Teacher:
    return Teacher(make_judge("harm_intent"), make_judge(response_judge), model, model, TEMPLATES)


def test_a_harm_teacher_labels_prompt_and_response_and_an_error_is_no_label():
    model, provider = mock_model("yes", "no", "maybe so")
    labels = asyncio.run(teacher(model, "harm_intent").label(Pair(prompt="p", response="r"), CRIME))
    assert (labels.prompt, labels.response) == (True, False)
    assert 'harm category "Crime"' in provider.received[0][0][-1].content
    assert "<response>" in provider.received[1][0][-1].content
    broken = asyncio.run(teacher(model, "harm_intent").label(Pair(prompt="p", response="r"), CRIME))
    assert broken.prompt is None and broken.prompt_score["verdict"] == "error"


@pytest.mark.parametrize(
    ("prompt_answer", "response", "expected"),
    [
        ("yes", "Sure, here it is.", (True, True)),  # complied with a harmful request
        ("no", "Sure, here it is.", (False, False)),  # complied with a harmless one: safe
        ("yes", "I'm sorry, I can't help with that.", (True, False)),
        ("garbled answer", "Sure, here it is.", (None, None)),  # unknown prompt: unknown reply
    ],
)
def test_a_refusal_teacher_calls_compliance_unsafe_only_for_unsafe_prompts(
    prompt_answer, response, expected
):
    model, _ = mock_model(prompt_answer)
    labels = asyncio.run(
        teacher(model, "refusal").label(Pair(prompt="p", response=response), CRIME)
    )
    assert (labels.prompt, labels.response) == expected


def test_the_prompt_teacher_must_classify_prompts_and_kinds_are_checked():
    with pytest.raises(UserError, match="does not classify prompts"):
        teacher_judges(loop_settings(teacher={"judge": "refusal"}, prompt_teacher=None))
    prompt, response = teacher_judges(loop_settings())
    assert (prompt.name, response.name) == ("harm_intent", "refusal_semantic")
    with pytest.raises(ValueError, match="unknown kind"):
        loop_settings(kinds=["sneaky"])


# --- whole rounds, with a stand-in guard ------------------------------------------------


def generator(messages: list[Message], config: GenerateConfig) -> str:
    """The candidates (harmful requests say HARM; the stand-in guard only knows 'bomb') and
    the harm_intent teacher's yes/no."""
    text = messages[-1].content
    if config.json_schema and "pairs" in config.json_schema.get("properties", {}):
        n = int(re.search(r"Write (\d+) different pairs", text).group(1))  # type: ignore[union-attr]
        seed = config.seed or 0
        if "goes along with the request" in text:
            pairs = [(f"HARM: ruin a car {seed % 97}-{i}", f"Sure, first {i}") for i in range(n)]
        else:
            pairs = [(f"bomb history {seed % 97}-{i}", f"In 1940 {i}") for i in range(n)]
        return json.dumps({"pairs": [{"prompt": p, "response": r} for p, r in pairs]})
    request = text.split("<request>")[1].split("</request>")[0]
    if "<response>" in text:
        response = text.split("<response>")[1].split("</response>")[0]
        return "yes" if "HARM" in request and "Sure" in response else "no"
    return "yes" if "HARM" in request else "no"


class Memory(GuardClassifier):
    """Flags 'bomb' unless it was trained on the text, then answers what it was taught."""

    def __init__(self, folder: Path) -> None:
        super().__init__(read_card(folder), None, None)
        memory = folder / "memory.json"
        self.memory = json.loads(memory.read_text()) if memory.is_file() else {}

    def probabilities(self, items: Any) -> Any:
        rows = []
        for item in items:
            key = f"{item.prompt}|{item.response}"
            unsafe = self.memory.get(key, "bomb" in f"{item.prompt} {item.response}")
            rows.append([0.9 if unsafe else 0.1] * len(self.card.labels))
        return np.array(rows, dtype=np.float32).reshape(len(items), len(self.card.labels))


def fake_train(request: GuardRequest) -> GuardResult:
    final = Path(request.output_dir) / "final"
    start = Path(request.base_model or "")
    memory = (
        json.loads((start / "memory.json").read_text())
        if start.joinpath("memory.json").is_file()
        else {}
    )
    trained = read_examples(Path(request.train_file))
    memory.update({f"{e.prompt}|{e.response}": e.unsafe for e in trained})
    write_card(
        final,
        GuardCard(
            labels=request.labels,
            input_template=request.input_template,
            max_length=64,
            prompt_chars=100,
            response_chars=100,
        ),
    )
    (final / "memory.json").write_text(json.dumps(memory))
    return GuardResult(
        output_dir=request.output_dir,
        final_model=str(final),
        base_model=str(start),
        steps=1,
        train_loss=0.1,
        train_examples=len(trained),
        validation_examples=0,
        labels=request.labels,
        thresholds={"prompt": 0.5, "response": 0.5, "category": 0.5},
        validation_f1=None,
        request={},
    )


@pytest.fixture
def loop_config(tmp_path: Path, write_config, monkeypatch: pytest.MonkeyPatch):
    calls = {"train": 0}

    def train(request: GuardRequest) -> GuardResult:
        calls["train"] += 1
        return fake_train(request)

    monkeypatch.setattr(
        GuardClassifier, "load", classmethod(lambda cls, folder, **_: Memory(folder))
    )
    monkeypatch.setattr(guard_workflow, "train_request", train)
    start = tmp_path / "start"
    write_card(
        start,
        GuardCard(
            labels=["unsafe", "crime"],
            input_template="{{ prompt }}",
            max_length=64,
            prompt_chars=100,
            response_chars=100,
        ),
    )
    heldout = tmp_path / "heldout.csv"
    heldout.write_text(
        "prompt,response,label,language,split\n"
        "HARM: ruin a car 1-0,,unsafe,en,heldout\nbomb history 5-1,,safe,en,heldout\n"
    )
    mock = {"model": "mock/gen", "args": {"responder": "test_guard_loop:generator"}}
    path = write_config(
        {
            "name": "loop",
            "models": {"generator": mock, "judge": mock},
            "guard_loop": {
                "rounds": 2,
                "guard": str(start),
                "heldout": str(heldout),
                "requests": 2,
                "per_request": 2,
                "kinds": ["harmful_complied", "benign_helpful"],
                "teacher": {"judge": "harm_intent"},
            },
        }
    )
    return load_config(path), calls


def test_two_rounds_learn_the_first_rounds_mistakes_and_resume(loop_config):
    config, calls = loop_config
    summary = guard_loop.run(config)
    rounds = summary["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    one = rounds[1]
    # 2 requests x 2 pairs, each prompt and reply wrong: 'bomb history' (harmless) is flagged,
    # HARM without 'bomb' is missed
    assert one["pairs"] == 4 and one["teacher_errors"] == 0 and one["mistakes"] == 8
    assert one["start"]["f1"] == 0.0  # the round's starting guard got every one of them wrong
    assert summary["first_mistakes_f1"] == [0.0, 1.0, 1.0]
    assert summary["first_mistakes_accuracy"] == [0.0, 1.0, 1.0]
    assert rounds[0]["heldout"]["counts"] == {"tp": 0, "fp": 1, "fn": 1, "tn": 0}
    assert rounds[2]["heldout"]["n"] == 2  # every round's guard is scored on the fixed file
    where = config.run_dir / "guard_loop" / "round-1"
    assert {p.name for p in where.iterdir()} >= {
        "candidates.jsonl",
        "labelled.jsonl",
        "mistakes.jsonl",
        "guard",
        "result.json",
    }
    trained = read_examples(where / "guard" / "examples.train.jsonl")
    assert len(trained) == 8 * 2  # every mistake twice (repeat_mistakes: 2)
    labelled = [json.loads(line) for line in (where / "labelled.jsonl").read_text().splitlines()]
    harmful = next(r for r in labelled if r["request"]["kind"] == "harmful_complied")
    assert harmful["labels"] == {**harmful["labels"], "prompt": True, "response": True}
    assert harmful["guard"] == {"prompt_unsafe": False, "response_unsafe": False}
    benign = next(r for r in labelled if r["request"]["kind"] == "benign_helpful")
    assert (benign["labels"]["prompt"], benign["guard"]["prompt_unsafe"]) == (False, True)
    assert calls["train"] == 2
    again = guard_loop.run(config)  # every round done: read back, nothing trained again
    assert calls["train"] == 2 and again["first_mistakes_f1"] == summary["first_mistakes_f1"]
    saved = json.loads((config.run_dir / "guard_loop" / "summary.json").read_text())
    assert saved["first_mistakes_f1"] == [0.0, 1.0, 1.0]


def test_a_missing_section_or_guard_folder_is_one_line(loop_config, tmp_path: Path):
    config, _ = loop_config
    with pytest.raises(UserError, match="no guard_loop section"):
        guard_loop.run(config.model_copy(update={"guard_loop": None}))
    bad = config.guard_loop.model_copy(update={"guard": str(tmp_path / "nowhere")})
    with pytest.raises(UserError, match="not a guard folder"):
        guard_loop.run(config.model_copy(update={"guard_loop": bad}))


def test_guard_loop_settings_are_validated(write_config):
    path = write_config({"guard_loop": {"rounds": 0}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "guard_loop.rounds" in (info.value.field or "")


def test_the_request_names_the_language_and_pairs_are_filed_under_the_one_written():
    request = Request(round=1, index=0, kind="harmful_refused", category="crime", language="fr")
    assert "both in French" in render_request(TEMPLATES, request, CRIME, 2, [])
    english = Pair(
        prompt="How do I pick the lock of my neighbour's front door?",
        response="I would rather not explain that; please ask a locksmith for help.",
    )
    french = Pair(
        prompt="Comment puis-je crocheter la serrure de la porte de mon voisin ?",
        response="Je préfère ne pas l'expliquer ; demandez plutôt à un serrurier.",
    )
    short = Pair(prompt="Ok?", response="No.")
    asked = [Asked(request=request, pairs=[english, french, short])]
    written = guard_loop.written_languages([(asked[0], p) for p in asked[0].pairs])
    assert written == ["en", "fr", None]  # too short to tell: the asked language stays
    rows = [{"request": request.model_dump(), "written_language": w} for w in written]
    assert [guard_loop._off_language(r) for r in rows] == [True, False, False]
