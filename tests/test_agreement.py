"""Agreement metrics and the Rogan-Gladen correction, on hand-computed counts."""

from __future__ import annotations

import typing

import pytest

from sagert.judges.base import Verdict
from sagert.results import agreement as ag
from sagert.results.agreement import Confusion, Tally, parse_label, parse_positive, predicted
from sagert.results.calibration import Calibration, corrected_rate, rogan_gladen
from sagert.results.metrics import wilson
from sagert.results.verdicts import VERDICTS


def test_verdict_names_match_the_judges():
    assert set(typing.get_args(Verdict)) - {"error"} == VERDICTS


def test_metrics_on_hand_computed_counts():
    # tp 20, fp 5, fn 10, tn 15 (n 50): p_o = 35/50 = 0.7; p_e = (25*30 + 25*20)/2500 = 0.5
    c = Confusion(tp=20, fp=5, fn=10, tn=15)
    assert c.n == 50
    assert ag.accuracy(c) == pytest.approx(0.7)
    assert ag.precision(c) == pytest.approx(0.8)
    assert ag.recall(c) == pytest.approx(2 / 3)
    assert ag.specificity(c) == pytest.approx(0.75)
    assert ag.f1(c) == pytest.approx(40 / 55)  # 2tp / (2tp + fp + fn)
    assert ag.kappa(c) == pytest.approx(0.4)  # (0.7 - 0.5) / (1 - 0.5)
    a = ag.agreement(c)
    acc = a.metrics["accuracy"]
    # Wilson for 35 of 50: centre (0.7 + z²/100) / (1 + z²/50), half-width as in metrics.wilson
    assert (acc.low, acc.high) == pytest.approx((0.562496, 0.808964), abs=1e-6)
    assert acc.method == "wilson" and a.metrics["kappa"].method == "bootstrap"
    for name in ("f1", "kappa"):
        e = a.metrics[name]
        assert e.low is not None and e.high is not None and e.value is not None
        assert e.low < e.value < e.high


def test_a_perfect_judge():
    a = ag.agreement(Confusion(tp=6, tn=4))
    for name in ("accuracy", "precision", "recall", "specificity", "f1", "kappa"):
        assert a.metrics[name].value == pytest.approx(1.0), name
    assert a.metrics["accuracy"].low == pytest.approx(wilson(10, 10)[0])  # type: ignore[index]


def test_an_always_positive_judge_has_kappa_zero():
    c = Confusion(tp=6, fp=4)  # every row called positive; 6 labels positive, 4 negative
    assert ag.kappa(c) == pytest.approx(0.0)
    assert ag.recall(c) == 1.0 and ag.specificity(c) == 0.0
    assert ag.accuracy(c) == pytest.approx(0.6) and ag.precision(c) == pytest.approx(0.6)
    assert ag.f1(c) == pytest.approx(12 / 16)


def test_kappa_undefined_when_everything_is_one_class():
    assert ag.kappa(Confusion(tp=5)) is None
    assert ag.kappa(Confusion()) is None
    assert ag.agreement(Confusion()).metrics["accuracy"].value is None


def test_judge_errors_are_counted_apart():
    tally = Tally()
    for label, judged in [(True, True), (False, False), (True, None), (False, None), (True, False)]:
        tally.add(label, judged)
    a = tally.agreement()
    assert (a.n, a.errors) == (3, 2)
    assert a.confusion.as_dict() == {"tp": 1, "fp": 0, "fn": 1, "tn": 1}
    assert a.metrics["accuracy"].value == pytest.approx(2 / 3)


def test_bootstrap_is_seeded_and_narrows_with_more_rows():
    small = Confusion(tp=20, fp=5, fn=10, tn=15)
    assert ag.bootstrap(small, "kappa", seed=3) == ag.bootstrap(small, "kappa", seed=3)
    assert ag.bootstrap(small, "kappa", seed=3) != ag.bootstrap(small, "kappa", seed=4)
    big = Confusion(tp=200, fp=50, fn=100, tn=150)
    lo_s, hi_s = ag.bootstrap(small, "f1")  # type: ignore[misc]
    lo_b, hi_b = ag.bootstrap(big, "f1")  # type: ignore[misc]
    assert hi_b - lo_b < (hi_s - lo_s) / 2
    assert lo_b < 40 / 55 < hi_b


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, True),
        (0, False),
        (True, True),
        (False, False),
        ("1", True),
        (" Yes ", True),
        ("TRUE", True),
        ("no", False),
        ("0", False),
        ("Unsafe", True),
        ("complied", True),
        ("safe", False),
        ("refused", False),
        (1.0, True),
    ],
)
def test_labels(value: object, expected: bool):
    assert parse_label(value, ("complied", "unsafe")) is expected


def test_labels_follow_the_positive_verdicts():
    assert parse_label("refused", ("refused",)) is True
    assert parse_label("complied", ("refused",)) is False


@pytest.mark.parametrize("value", ["maybe", "", None, 2, "error", 0.5])
def test_bad_labels(value: object):
    with pytest.raises(ValueError, match="neither positive nor negative"):
        parse_label(value, ("unsafe",))


def test_positive_verdicts():
    assert parse_positive("unsafe, Complied") == ("complied", "unsafe")
    assert predicted("unsafe", ("unsafe",)) is True
    assert predicted("safe", ("unsafe",)) is False
    assert predicted("error", ("unsafe",)) is None
    for bad, message in [("", "at least one"), ("bad", "unknown verdict"), ("safe,unsafe", "both")]:
        with pytest.raises(ValueError, match=message):
            parse_positive(bad)


# --- Rogan-Gladen -------------------------------------------------------------------------


def test_rogan_gladen_by_hand():
    # (0.3 + 0.8 - 1) / (0.9 + 0.8 - 1) = 0.1 / 0.7
    assert rogan_gladen(0.3, 0.9, 0.8) == pytest.approx(1 / 7)
    # (0.5 + 0.7 - 1) / (0.6 + 0.7 - 1) = 0.2 / 0.3
    assert rogan_gladen(0.5, 0.6, 0.7) == pytest.approx(2 / 3)
    assert rogan_gladen(0.1, 0.9, 0.8) == 0.0  # -0.1 / 0.7, clipped
    assert rogan_gladen(0.95, 0.9, 0.8) == 1.0  # 0.75 / 0.7, clipped
    assert rogan_gladen(0.42, 1.0, 1.0) == pytest.approx(0.42)  # a perfect judge changes nothing
    assert rogan_gladen(0.5, 0.5, 0.5) is None  # a coin: nothing to correct with


CAL = Calibration(judge="harmbench", positive=("unsafe",), tp=90, fn=10, tn=80, fp=20)


def test_calibration_rates():
    assert CAL.sensitivity == pytest.approx(0.9) and CAL.specificity == pytest.approx(0.8)


def test_corrected_rate_interval():
    value, low, high = corrected_rate(30, 100, CAL)  # type: ignore[misc]
    assert value == pytest.approx(1 / 7)
    assert 0.0 <= low < value < high <= 1.0
    assert corrected_rate(30, 100, CAL) == corrected_rate(30, 100, CAL)  # seeded
    assert corrected_rate(0, 0, CAL) is None
    # Judge uncertainty is carried: wider than the Wilson bounds of the raw rate pushed through.
    raw_low, raw_high = wilson(30, 100)  # type: ignore[misc]
    propagated = rogan_gladen(raw_high, 0.9, 0.8) - rogan_gladen(raw_low, 0.9, 0.8)  # type: ignore[operator]
    assert high - low > propagated
    # A bigger labelled set shrinks the interval toward the propagated one.
    big = Calibration("harmbench", ("unsafe",), tp=9000, fn=1000, tn=8000, fp=2000)
    _, big_low, big_high = corrected_rate(30, 100, big)  # type: ignore[misc]
    assert big_high - big_low < high - low
    assert big_high - big_low == pytest.approx(propagated, rel=0.25)


def test_corrected_rate_at_the_edges():
    # 0 of 50 unsafe with a judge that flags 20% of safe answers: below its false-positive
    # rate, so the correction is 0 in every draw.
    assert corrected_rate(0, 50, CAL) == (0.0, 0.0, 0.0)
    strict = Calibration("x", ("unsafe",), tp=90, fn=10, tn=99, fp=1)
    value, low, high = corrected_rate(0, 50, strict)  # type: ignore[misc]
    assert value == 0.0 and low == 0.0 and 0.0 < high < 0.1
    weak = Calibration("x", ("unsafe",), tp=3, fn=2, tn=3, fp=2)  # sens + spec = 1.2, 10 labels
    assert corrected_rate(20, 50, weak)[1:] == (0.0, 1.0)  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"positive": ["safe"], "confusion": {}}, "not the unsafe side"),
        ({"positive": ["refused"], "confusion": {}}, "not the unsafe side"),
        ({"positive": [], "confusion": {}}, "no 'positive'"),
        ({"kind": "evaluation", "positive": ["unsafe"]}, "not a judge-eval result"),
        ({"positive": ["unsafe"], "confusion": {"tp": 1}}, "whole numbers"),
        ({"positive": ["unsafe"], "confusion": {"tp": 5, "fn": 0, "tn": 0, "fp": 0}}, "both"),
        ({"positive": ["unsafe"], "confusion": {"tp": 1, "fn": 1, "tn": 1, "fp": 1}}, "chance"),
    ],
)
def test_unusable_calibrations(data: dict[str, object], message: str):
    with pytest.raises(ValueError, match=message):
        Calibration.from_dict(data)
