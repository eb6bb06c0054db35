"""Bad input, fuzzed: the config loader, taxonomy YAML and prompt-file loaders only ever raise
a one-line UserError (exit code 2 at the CLI), never a traceback. 1,000+ cases each."""

from __future__ import annotations

import string
import subprocess
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import sagert_cmd
from sagert.core.errors import UserError
from sagert.settings.run import load_config
from sagert.store.prompts import read_prompts
from sagert.taxonomy import load_taxonomy

FUZZ = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CONFIG_KEYS = [
    "name",
    "seed",
    "runs_dir",
    "cache",
    "templates_dir",
    "taxonomy",
    "domain",
    "models",
    "stages",
    "export",
    "generator",
    "judge",
    "model",
    "base_url",
    "max_connections",
    "timeout",
    "retry",
    "config",
    "args",
    "expand",
    "sample",
    "depth",
    "breadth",
    "n_samples",
    "formats",
    "temperature",
    "max_tokens",
    "api_key_env",
    "respond",
    "attack",
    "styles",
    "seeed",
]
TAXONOMY_KEYS = [
    "name",
    "title",
    "nodes",
    "roots",
    "key",
    "name",
    "description",
    "children",
    "aliases",
    "maps_to",
    "levels",
    "level",
    "source",
    "license",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)


def documents(keys: list[str]) -> st.SearchStrategy[object]:
    key = st.one_of(st.sampled_from(keys), st.text(max_size=12))
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(key, children, max_size=5),
        ),
        max_leaves=20,
    )


def yaml_text(keys: list[str]) -> st.SearchStrategy[str]:
    dumped = documents(keys).map(lambda d: yaml.safe_dump(d, allow_unicode=True))
    raw = st.text(alphabet=string.printable + "äé中\u2028", max_size=200)
    return st.one_of(dumped, dumped, raw)


def assert_only_user_errors(load, text: str, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            load(path)
        except UserError as exc:
            line = exc.one_line()
            assert line and "\n" not in line and "\r" not in line


@FUZZ
@given(yaml_text(CONFIG_KEYS))
def test_config_loader(text: str) -> None:
    assert_only_user_errors(load_config, text, ".yaml")


@FUZZ
@given(yaml_text(TAXONOMY_KEYS))
def test_taxonomy_yaml(text: str) -> None:
    assert_only_user_errors(load_taxonomy, text, ".yaml")


def _jsonl_lines() -> st.SearchStrategy[str]:
    row = st.one_of(
        documents(["prompt", "text", "goal"]).map(lambda d: yaml.safe_dump(d).replace("\n", " ")),
        st.dictionaries(st.sampled_from(["prompt", "x"]), scalars, max_size=3).map(
            lambda d: __import__("json").dumps(d)
        ),
        st.text(max_size=40),
    )
    return st.lists(row, max_size=6).map("\n".join)


@FUZZ
@given(_jsonl_lines())
def test_jsonl_prompts(text: str) -> None:
    assert_only_user_errors(lambda p: list(read_prompts(p)), text, ".jsonl")


@FUZZ
@given(
    st.lists(
        st.lists(st.text(alphabet=string.printable + 'é"', max_size=12), max_size=4), max_size=6
    )
)
def test_csv_prompts(rows: list[list[str]]) -> None:
    text = "\n".join(",".join(r) for r in rows)
    assert_only_user_errors(lambda p: list(read_prompts(p)), text, ".csv")


def test_fuzzed_inputs_exit_2_at_the_cli(tmp_path: Path) -> None:
    """A sample of what the fuzzers produce, through the real command: one line, exit 2."""
    samples = [
        "models: [1, 2",
        "stages: {expand: {depth: -1}}",
        "- 1\n- 2",
        "seed: .nan",
        "models:\n  generator: {model: nope}",
        "\x00\x01",
    ]
    for i, text in enumerate(samples):
        config = tmp_path / f"c{i}.yaml"
        config.write_text(text)
        proc = subprocess.run(
            [*sagert_cmd(), "generate", str(config)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, (text, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
