"""The claims registry: every claim of the report carries a decision that points at something real."""
import dataclasses
import os
from pathlib import Path

import pytest

from tempmodels import claim_checks, claims

REGISTRY = claims.load()


def test_the_registry_is_sound():
    assert len(REGISTRY) > 300
    assert claims.problems(REGISTRY, claim_checks.CHECKS) == []


def _first(status):
    return next(c for c in REGISTRY if c.status == status)


@pytest.mark.parametrize("change, expected", [
    (lambda: dataclasses.replace(_first("open"), reason=""), "needs a reason"),
    (lambda: dataclasses.replace(_first("not testable"), reason=" "), "needs a reason"),
    (lambda: dataclasses.replace(_first("partly"), reason=""), "needs a reason"),
    (lambda: dataclasses.replace(_first("chapter"), where="A section no chapter has"), "has no section"),
    (lambda: dataclasses.replace(_first("here"), where="A section no chapter has"), "has no section"),
    (lambda: dataclasses.replace(_first("chapter"), chapter="99"), "has no notebook"),
    (lambda: dataclasses.replace(_first("chapter"), status="measured"), "is not one of"),
    (lambda: dataclasses.replace(_first("chapter"), kind="rumour"), "is not one of"),
    (lambda: dataclasses.replace(_first("here"), id="a_claim_no_check_computes"), "no check computes it"),
])
def test_an_incomplete_decision_is_named(change, expected):
    broken = change()
    registry = [c for c in REGISTRY if c.id != broken.id] + [broken]
    found = claims.problems(registry, claim_checks.CHECKS)
    assert any(expected in p and broken.id in p for p in found), found


def test_a_duplicate_id_and_an_orphan_check_are_named():
    found = claims.problems(list(REGISTRY) + [REGISTRY[0]], {**claim_checks.CHECKS, "no_such_claim": lambda: None})
    assert any("duplicate id" in p for p in found) and any("no_such_claim" in p for p in found)


def _report() -> Path | None:
    for p in (os.environ.get("TEMPMODELS_REPORT", ""), Path(__file__).resolve().parents[2] / "shared" / "report.md"):
        if p and Path(p).is_file():
            return Path(p)
    return None


@pytest.mark.skipif(_report() is None, reason="the report (../shared/report.md or $TEMPMODELS_REPORT) is not on this machine")
def test_every_quote_is_on_its_line_of_the_report():
    text = _report().read_text()
    assert claims.quote_problems(REGISTRY, text) == []
    moved = dataclasses.replace(REGISTRY[0], line=REGISTRY[0].line + 1)
    assert claims.quote_problems([moved], text)


def test_the_checks_compute_their_verdicts():
    results = claim_checks.compute_all()
    assert set(results) == {c.id for c in REGISTRY if c.status == "here"}
    for cid, r in results.items():
        assert r.verdict in (claim_checks.HOLDS, claim_checks.FAILS), cid
    # figures PyTorch, torchvision and torchaudio count (no weights): a change in what is counted shows here
    assert results["medium_transformer_80M"].computed == pytest.approx(42.527232)
    assert results["wav2vec_stride_rf"].computed == 25.0 and results["wav2vec_stride_rf"].verdict == claim_checks.FAILS
    assert results["k5_syllable_100_200ms"].verdict == claim_checks.HOLDS


def test_the_verdict_rules():
    assert claim_checks.within(105, 100, "x").verdict == claim_checks.HOLDS
    assert claim_checks.within(112, 100, "x").verdict == claim_checks.FAILS  # 12 > 10 % of the computed 112
    assert claim_checks.within(100, 100, "x", rel=0.0).rule == "exactly"
    assert claim_checks.within(101, 100, "x", rel=0.0).verdict == claim_checks.FAILS
    assert claim_checks.in_range(40, 40, 60, "ms").verdict == claim_checks.HOLDS
    assert claim_checks.in_range(61, 40, 60, "ms").verdict == claim_checks.FAILS


def test_listing_names_a_bad_status():
    with pytest.raises(ValueError, match="status must be one of"):
        claims.listing(REGISTRY, "measured")
    assert set(claims.listing(REGISTRY, "open", subject="S3D")["subject"]) == {"S3D"}


def test_listing_a_subject_with_no_claim_of_that_status_is_an_empty_table():
    sparse = next(s for s in sorted({c.subject for c in REGISTRY})
                  if not any(c.subject == s and c.status == "open" for c in REGISTRY))
    table = claims.listing(REGISTRY, "open", subject=sparse, columns=["kind", "quote", "reason"])
    assert table.empty and list(table.columns) == ["kind", "quote", "reason"]
