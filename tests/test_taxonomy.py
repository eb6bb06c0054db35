from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sagert.cli.taxonomy import taxonomy_app
from sagert.core.errors import ConfigError, UserError
from sagert.taxonomy import (
    LevelPath,
    Taxonomy,
    TaxonomyNode,
    load_taxonomy,
    map_keys,
    matches,
    slugify,
    taxonomies,
)
from sagert.taxonomy.mapping import builtin_mappings, edges
from sagert.testing.contracts import check_taxonomy, parametrize

SHARED = Path(__file__).parents[1].parent / "shared/data"
ALERT_MD = SHARED / "alert/TAXONOMY.md"
LLAMA_GUARD = SHARED / "llama-guard-3"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference data not found: {path}")
    return path


# -- contract over every registered taxonomy ------------------------------------------------


@parametrize("taxonomies")
def test_registered_taxonomy_contract(name: str) -> None:
    """Cited, well-formed, resolvable, YAML round-trip (sagert.testing.contracts)."""
    check_taxonomy(name)
    assert load_taxonomy(name) is taxonomies.get(name)()  # built-ins are parsed once


def test_builtin_counts() -> None:
    expected = {
        "alert": (6, 32),
        "llamaguard3": (14, 0),
        "sage": (5, 22),
        "harmbench": (7, 0),
        "jailbreakbench": (10, 0),
    }
    assert set(taxonomies.names()) >= set(expected)
    for name, (macro, sub) in expected.items():
        counts = load_taxonomy(name).counts()
        assert (counts["macro"], counts["sub"], counts["leaf"], counts["topic"]) == (
            macro,
            sub,
            0,
            0,
        )


# -- ALERT ----------------------------------------------------------------------------------


def _alert_table() -> dict[str, list[str]]:
    """Macro name -> micro keys, parsed from the shared ALERT TAXONOMY.md table."""
    rows: dict[str, list[str]] = {}
    for line in _need(ALERT_MD).read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*([^|]+?)\s*\((\d+)\)\s*\|\s*([^|]+?)\s*\|$", line)
        if m:
            keys = [k.strip() for k in m.group(3).split(",")]
            assert len(keys) == int(m.group(2))
            rows[m.group(1)] = keys
    return rows


def test_alert_matches_shared_taxonomy() -> None:
    table = _alert_table()
    alert = load_taxonomy("alert")
    assert len(table) == 6
    assert sum(len(v) for v in table.values()) == 32
    assert [n.name for n in alert.roots] == list(table)
    for root, keys in zip(alert.roots, table.values(), strict=True):
        assert [c.key for c in root.children] == keys
        assert all(c.level == "sub" for c in root.children)
    assert len(alert.nodes_at("macro")) == 6
    assert len(alert.nodes_at("sub")) == 32


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("crime_kidnapp", "crime_kidnapp"),
        ("crime_kidnap", "crime_kidnapp"),
        ("sex_harrasment", "sex_harrasment"),
        ("sex_harassment", "sex_harrasment"),
    ],
)
def test_alert_misspellings_resolve(spelling: str, canonical: str) -> None:
    alert = load_taxonomy("alert")
    assert alert.find(spelling).key == canonical
    assert spelling in alert
    macro = "crime" if canonical.startswith("crime") else "sex"
    assert alert.resolve(f"{macro}/{spelling}") == (macro, canonical)
    assert alert.level_path(spelling) == LevelPath(macro=macro, sub=canonical)


# -- Llama Guard 3 --------------------------------------------------------------------------


def _model_card_categories() -> dict[str, tuple[str, str]]:
    """S-code -> (name, definition) from the model card's bold headings."""
    text = _need(LLAMA_GUARD / "MODEL_CARD.md").read_text(encoding="utf-8")
    found = re.findall(r"^\*\*(S\d+) - (.+?)\*\*\s*\n\s*\n(.+?)\s*$", text, flags=re.M)
    return {code: (html.unescape(name), html.unescape(desc)) for code, name, desc in found}


def test_llamaguard_names_and_definitions_match_model_card() -> None:
    card = _model_card_categories()
    guard = load_taxonomy("llamaguard3")
    assert [n.key for n in guard.roots] == [f"S{i}" for i in range(1, 15)]
    assert list(card) == [n.key for n in guard.roots]
    for node in guard.roots:
        name, definition = card[node.key]
        assert node.name == name
        assert node.description == definition
    assert guard.find("S3").name == "Sex-Related Crimes"
    assert guard.find("S1").name == "Violent Crimes"


def test_llamaguard_prompt_names_match_template() -> None:
    path = LLAMA_GUARD / "llama_recipes_PROMPT_TEMPLATE_3_rendered_example.txt"
    text = _need(path).read_text(encoding="utf-8")
    rendered = dict(re.findall(r"^(S\d+): (.+?)\.\s*$", text, flags=re.M))
    guard = load_taxonomy("llamaguard3")
    assert {n.key: n.prompt_name for n in guard.roots} == rendered
    assert guard.find("S3").prompt_name == "Sex Crimes"


# -- mapping --------------------------------------------------------------------------------


def test_mapping_examples() -> None:
    assert map_keys("alert", "crime_cyber", "llamaguard3") == ["S2", "S14"]
    assert map_keys("alert", "hate_women", "llamaguard3") == ["S10"]
    assert map_keys("alert", "self_harm_thin", "llamaguard3") == ["S11"]
    assert map_keys("alert", "sex_porn", "llamaguard3") == ["S12"]
    assert map_keys("alert", "crime_privacy", "llamaguard3") == ["S7"]
    for key in ("weapon_chemical", "weapon_biological", "weapon_radioactive"):
        assert map_keys("alert", key, "llamaguard3") == ["S9"]
    assert map_keys("alert", "sex_harassment", "llamaguard3") == ["S3", "S12"]  # alias
    assert map_keys("alert", "crime_cyber", "alert") == ["crime_cyber"]


def test_every_alert_sub_maps_to_llamaguard() -> None:
    alert = load_taxonomy("alert")
    guard_keys = {n.key for n in load_taxonomy("llamaguard3").roots}
    for path, _ in alert.nodes_at("sub"):
        codes = map_keys("alert", path[-1], "llamaguard3")
        assert codes, path
        assert set(codes) <= guard_keys


def test_mapping_table_keys_exist() -> None:
    for src, targets in builtin_mappings().maps.items():
        for dst in targets:
            table = edges(load_taxonomy(src), load_taxonomy(dst))  # resolves every key
            assert table
    for name in ("sage", "harmbench", "jailbreakbench"):
        tax = load_taxonomy(name)
        for path, _ in tax.leaves():
            assert map_keys(tax, path[-1], "llamaguard3"), (name, path)


def test_mapping_inherits_reverses_and_chains() -> None:
    alert = load_taxonomy("alert")
    # a parent takes its children's codes; an expanded leaf inherits its sub's
    assert set(map_keys("alert", "self_harm", "llamaguard3")) == {"S11"}
    grown = alert.add_children(
        "crime_cyber", [{"key": "ransomware", "name": "Ransomware", "description": "Extortion."}]
    )
    assert map_keys(grown, "ransomware", "llamaguard3") == ["S2", "S14"]
    # backwards through the ALERT -> Llama Guard table
    hate = map_keys("llamaguard3", "S10", "alert")
    assert {"hate_women", "hate_religion", "hate_other"} <= set(hate)
    assert "crime_theft" not in hate
    # chained through ALERT
    assert map_keys("sage", "cybercrime", "llamaguard3") == ["S2", "S14"]
    assert map_keys("sage", "eating_disorders", "alert") == ["self_harm_thin"]
    # no counterpart
    assert map_keys("harmbench", "copyright", "alert") == []


def test_matches() -> None:
    assert matches(("alert", "crime_cyber"), ("llamaguard3", "S14"))
    assert matches(("alert", "crime_cyber"), ("llamaguard3", "S2"))
    assert not matches(("alert", "hate_women"), ("llamaguard3", "S1"))
    assert matches(("alert", "crime_kidnap"), ("alert", "crime"))  # ancestor, alias
    assert not matches(("alert", "crime_cyber"), ("alert", "crime_theft"))
    assert matches(("sage", "explicit_content"), ("alert", "sex"))
    assert matches(("harmbench", "cybercrime_intrusion"), ("llamaguard3", "S14"))
    assert matches(("llamaguard3", "S11"), ("alert", "self_harm_suicide"))
    assert not matches(("jailbreakbench", "privacy"), ("llamaguard3", "S12"))
    with pytest.raises(UserError, match="no node"):
        matches(("alert", "crime_cyberr"), ("llamaguard3", "S2"))


# -- tree operations ------------------------------------------------------------------------


def test_find_errors_are_user_errors() -> None:
    alert = load_taxonomy("alert")
    with pytest.raises(UserError, match="did you mean crime_cyber"):
        alert.find("crime_cybre")
    with pytest.raises(UserError, match="no node"):
        alert.find("hate/crime_cyber")
    assert ("hate", "hate_women") in alert
    assert "nothing" not in alert


def test_add_children_leaves_and_levels() -> None:
    alert = load_taxonomy("alert")
    assert len(alert.leaves()) == 32
    grown = alert.add_children(
        ("crime", "crime_cyber"),
        [
            TaxonomyNode(key="phishing", name="Phishing", description="d", level="leaf"),
            {"key": "ransomware", "name": "Ransomware", "description": "d"},
        ],
    )
    assert alert.counts()["leaf"] == 0  # the original is untouched
    assert grown.counts()["leaf"] == 2
    assert len(grown.leaves()) == 33
    assert grown.find("ransomware").level == "leaf"
    assert grown.level_path("ransomware") == ("crime", "crime_cyber", "ransomware", None)
    deeper = grown.add_children("ransomware", [{"key": "t1", "name": "T", "description": "d"}])
    assert deeper.nodes_at("topic")[0][0] == ("crime", "crime_cyber", "ransomware", "t1")
    with pytest.raises(ValueError, match="topics have no children"):
        deeper.add_children("t1", [{"key": "x", "name": "X", "description": "d"}])
    dup = [{"key": "phishing", "name": "Phishing again", "description": "d"}]
    with pytest.raises(ValueError, match="already exists"):
        grown.add_children("crime_cyber", dup)
    assert grown.add_children("crime_cyber", dup, on_duplicate="skip") == grown
    renamed = grown.add_children("crime_cyber", dup, on_duplicate="rename")
    assert renamed.find("crime_cyber/phishing_2").name == "Phishing again"
    assert Taxonomy.from_yaml(deeper.to_yaml()) == deeper


def test_ambiguous_keys_need_a_longer_path() -> None:
    other = [{"key": "other", "name": "Other", "description": "d"}]
    tax = load_taxonomy("alert").add_children("crime_cyber", other)
    tax = tax.add_children("crime_theft", other)
    with pytest.raises(UserError, match="ambiguous"):
        tax.find("other")
    assert tax.resolve("crime_theft/other") == ("crime", "crime_theft", "other")
    assert tax.resolve(["crime", "crime_cyber", "other"]) == ("crime", "crime_cyber", "other")
    with pytest.raises(UserError, match="empty path"):
        tax.resolve(())


def test_slugify() -> None:
    assert slugify("Card Skimming & ATM Fraud!") == "card_skimming_atm_fraud"
    assert slugify("Crème brûlée") == "creme_brulee"
    assert slugify("   ") == "node"
    assert slugify("Phishing", taken={"phishing", "phishing_2"}) == "phishing_3"
    assert len(slugify("x" * 500)) == 64


def test_level_path_helper() -> None:
    assert LevelPath.of(("a", "b")).keys == ("a", "b")
    assert LevelPath.of(("a",)).as_dict() == {
        "macro": "a",
        "sub": None,
        "leaf": None,
        "topic": None,
    }
    with pytest.raises(ValueError):
        LevelPath.of(("a", "b", "c", "d", "e"))


# -- user taxonomies ------------------------------------------------------------------------

USER_YAML = """\
name: my-bank
title: Banking harms
levels: [macro, sub]
nodes:
  - key: fraud
    name: Fraud
    description: Deceiving customers or the bank for money.
    aliases: [scams]
    maps_to: {llamaguard3: [S2], alert: crime_other}
    children:
      - {key: card_skimming, name: Card skimming, description: Stealing card data at terminals.}
      - {key: loan_fraud, name: Loan fraud, description: Lying to get a loan.}
  - key: insider
    name: Insider abuse
    description: Staff misusing their access.
    maps_to: {llamaguard3: [S2, S7]}
"""


def test_user_yaml_loads(tmp_path: Path) -> None:
    path = tmp_path / "bank.yaml"
    path.write_text(USER_YAML, encoding="utf-8")
    tax = load_taxonomy(path)
    assert load_taxonomy(str(path)) == tax
    assert tax.name == "my-bank" and tax.levels == ["macro", "sub"]
    assert tax.counts() == {"macro": 2, "sub": 2, "leaf": 0, "topic": 0}
    assert tax.find("scams/card_skimming").level == "sub"
    assert tax.find("fraud").maps_to == {"llamaguard3": ["S2"], "alert": ["crime_other"]}
    assert map_keys(tax, "card_skimming", "llamaguard3") == ["S2"]
    assert map_keys(tax, "insider", "llamaguard3") == ["S2", "S7"]
    assert matches((tax, "loan_fraud"), ("llamaguard3", "S2"))
    assert matches((tax, "fraud"), ("alert", "crime"))
    assert Taxonomy.from_yaml(tax.to_yaml()) == tax
    # `levels` says what was written by hand; expansion may go deeper
    grown = tax.add_children("card_skimming", [{"key": "atm", "name": "ATM", "description": "d"}])
    assert grown.levels == ["macro", "sub"]
    assert Taxonomy.from_yaml(grown.to_yaml()).find("atm").level == "leaf"


BAD_YAML = [
    ("nodes: [\n", "line 2", "YAML syntax"),
    ("- a\n", "top level", "not a mapping"),
    ("", "top level", "empty"),
    ("name: x\n", "nodes", "Field required"),
    ("name: x\nnodes:\n  - {key: a, name: A}\n", "nodes[0].description", "Field required"),
    (
        "name: x\nnodes:\n  - {key: a, name: A, description: d, colour: red}\n",
        "nodes[0].colour",
        "",
    ),
    (
        "name: x\nnodes:\n  - key: a\n    name: A\n    description: d\n    children:\n"
        "      - {key: b, name: B, description: d}\n      - {key: b, name: C, description: d}\n",
        "nodes[0].children[1].key",
        "already used",
    ),
    (
        "name: x\nnodes:\n  - {key: a, name: A, description: d}\n"
        "  - {key: b, name: B, description: d, aliases: [a]}\n",
        "nodes[1].aliases[0]",
        "already used",
    ),
    (
        "name: x\nnodes:\n  - {key: a, name: A, description: d, children: "
        "[{key: Card Skimming, name: C, description: d}]}\n",
        "nodes[0].children[0].key",
        "card_skimming",
    ),
    (
        "name: x\nnodes:\n  - {key: a, name: A, description: d, children: [{key: b, name: B, "
        "description: d, children: [{key: c, name: C, description: d, children: [{key: d, name: "
        "D, description: d, children: [{key: e, name: E, description: d}]}]}]}]}\n",
        "nodes[0].children[0].children[0].children[0].children[0]",
        "below the last level",
    ),
    ("name: x\nnodes:\n  - {key: a, name: A, description: d, level: sub}\n", "nodes[0].level", ""),
    ("name: x\nlevels: [sub]\nnodes:\n  - {key: a, name: A, description: d}\n", "levels", ""),
    (
        "name: x\nnodes:\n  - {key: a, name: A, description: d, maps_to: {llamaguard3: [S99]}}\n",
        "nodes[0].maps_to.llamaguard3[0]",
        "not a key",
    ),
]


@pytest.mark.parametrize(("text", "field", "words"), BAD_YAML)
def test_bad_user_yaml_is_one_line(tmp_path: Path, text: str, field: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    line = info.value.one_line()
    assert "\n" not in line
    assert str(path) in line
    assert field in line
    assert words in line
    assert "fix:" in line


def test_unknown_name_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="alert"):
        load_taxonomy("no-such-taxonomy")
    with pytest.raises(ConfigError, match="not found"):
        load_taxonomy(tmp_path / "missing.yaml")


# -- CLI ------------------------------------------------------------------------------------


def test_cli_list() -> None:
    result = CliRunner().invoke(taxonomy_app, ["list"])
    assert result.exit_code == 0, result.output
    for name in taxonomies.names():
        assert name in result.output
    assert re.search(r"alert .* 6 .* 32 ", result.output)


def test_cli_show_tree_and_depth() -> None:
    runner = CliRunner()
    full = runner.invoke(taxonomy_app, ["show", "alert"])
    assert full.exit_code == 0, full.output
    assert "crime_kidnapp" in full.output and "crime_kidnap" in full.output
    shallow = runner.invoke(taxonomy_app, ["show", "alert", "--depth", "1"])
    assert shallow.exit_code == 0
    assert "Criminal Planning" in shallow.output
    assert "crime_cyber" not in shallow.output


def test_cli_show_yaml_round_trips() -> None:
    result = CliRunner().invoke(taxonomy_app, ["show", "llamaguard3", "--format", "yaml"])
    assert result.exit_code == 0, result.output
    assert Taxonomy.from_yaml(result.output) == load_taxonomy("llamaguard3")


def test_cli_show_escapes_untrusted_text(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(
        'name: llm\nnodes:\n  - key: a\n    name: "[bold red]boom[/] \\x1b[31m"\n'
        "    description: '[link=http://x]click[/link]'\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(taxonomy_app, ["show", str(path)])
    assert result.exit_code == 0, result.output
    assert "[bold red]boom[/]" in result.output
    assert "[link=http://x]click[/link]" in result.output
    assert "\x1b" not in result.output


def test_cli_show_unknown_is_user_error() -> None:
    result = CliRunner().invoke(taxonomy_app, ["show", "nope"])
    assert result.exit_code != 0
    assert isinstance(result.exception, UserError)
