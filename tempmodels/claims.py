"""The report's testable claims as data, and how this book decides each one (the claims registry).

Every claim the research report makes that a measurement could decide is one :class:`Claim`
(:mod:`tempmodels.claims_data`, generated from a claim-by-claim read of the report): its quote,
section and line, its kind, the metric that would decide it, the value it states, and its
**decision** — one of :data:`STATUSES`:

* ``chapter`` — a chapter measures it: ``chapter`` and the section heading ``where`` it does;
* ``partly`` — a chapter measures part of it or a proxy; ``reason`` says what is left out;
* ``here`` — decided by a count in the registry chapter itself (:mod:`tempmodels.claim_checks`,
  each check computed when the chapter runs, never stored);
* ``open`` — testable with the book's benchmarks, not measured yet; ``reason`` says how it would be;
* ``not testable`` — ``reason`` says why (real subjects, pretrained weights, an opinion, ...).

:func:`problems` lists every claim whose decision is incomplete (no chapter or a heading that the
chapter does not have, no reason, no check), so the registry cannot silently drift from the book.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

#: the book's notebooks (the package is installed from the repository, editable)
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KINDS = ("count", "forecast", "criterion", "literature", "budget", "design")
STATUSES = ("chapter", "partly", "here", "open", "not testable")


@dataclass(frozen=True)
class Claim:
    id: str
    line: int          # 1-based line of report.md where the claim first appears
    section: str       # the report's heading above it
    quote: str         # verbatim; "…" marks a trimmed end
    kind: str          # one of KINDS
    subject: str
    metric: str        # what measurement decides it
    stated: str        # the value as the report states it ("" when qualitative)
    status: str        # one of STATUSES
    chapter: str = ""  # "00".."13", "A1".."A4" for chapter / partly / here
    where: str = ""    # the chapter's section heading that measures it
    reason: str = ""   # partly: what is left out; open: how it would be measured; not testable: why


def load() -> tuple[Claim, ...]:
    """The registry, in report order."""
    from .claims_data import CLAIMS  # the data module: a plain list of dicts

    return tuple(Claim(**c) for c in CLAIMS)


def frame(claims: Iterable[Claim]) -> pd.DataFrame:
    """One row per claim, one column per field (the columns are there when no claim is)."""
    return pd.DataFrame([asdict(c) for c in claims], columns=[f.name for f in fields(Claim)])


def headings(notebook: Path) -> set[str]:
    """The markdown headings of a notebook, without the leading ``#``'s."""
    nb = json.loads(Path(notebook).read_text())
    return {line.lstrip("#").strip() for cell in nb["cells"] if cell["cell_type"] == "markdown"
            for line in "".join(cell["source"]).splitlines() if line.startswith("#")}


def chapter_notebook(chapter: str, notebooks: Path) -> Path | None:
    found = sorted(Path(notebooks).glob(f"{chapter}_*.ipynb"))
    return found[0] if found else None


def problems(claims: Iterable[Claim], checks: Mapping[str, object] = {}, notebooks: Path = NOTEBOOKS) -> list[str]:
    """Every way a claim's decision is incomplete or points at nothing; empty when the registry is sound.

    ``checks`` is the registry chapter's computed checks by claim id (:data:`tempmodels.claim_checks.CHECKS`).
    """
    out, seen, heads = [], set(), {}
    for c in claims:
        if c.id in seen:
            out.append(f"{c.id}: duplicate id")
        seen.add(c.id)
        if c.kind not in KINDS:
            out.append(f"{c.id}: kind {c.kind!r} is not one of {KINDS}")
        if c.status not in STATUSES:
            out.append(f"{c.id}: status {c.status!r} is not one of {STATUSES}")
            continue
        if not c.quote.strip():
            out.append(f"{c.id}: no quote")
        if c.status in ("chapter", "partly", "here"):
            nb = chapter_notebook(c.chapter, notebooks) if c.chapter else None
            if nb is None:
                out.append(f"{c.id}: measured in chapter {c.chapter!r}, which has no notebook in {notebooks}")
                continue
            if nb not in heads:
                heads[nb] = headings(nb)
            if c.where not in heads[nb]:
                out.append(f"{c.id}: chapter {c.chapter} has no section {c.where!r}")
        if c.status in ("partly", "open", "not testable") and not c.reason.strip():
            out.append(f"{c.id}: status {c.status!r} needs a reason")
        if c.status == "here" and c.id not in checks:
            out.append(f"{c.id}: decided here, but no check computes it")
    for cid in checks:
        if cid not in seen:
            out.append(f"{cid}: a check for a claim the registry does not have")
    return out


def quote_problems(claims: Iterable[Claim], report_text: str) -> list[str]:
    """Claims whose quote (without trimming marks) is not on the stated line of the report."""
    lines = report_text.splitlines()
    out = []
    for c in claims:
        quote = c.quote.strip("… ").strip()
        if not 1 <= c.line <= len(lines) or quote not in lines[c.line - 1]:
            out.append(f"{c.id}: quote not found on line {c.line}: {quote[:60]!r}")
    return out


def coverage(claims: Iterable[Claim]) -> pd.DataFrame:
    """Claims per kind (rows) and decision (columns), with totals."""
    df = frame(claims)
    table = pd.crosstab(df["kind"], df["status"], margins=True, margins_name="all")
    cols = [s for s in STATUSES if s in table.columns] + ["all"]
    rows = [k for k in KINDS if k in table.index] + ["all"]
    return table.loc[rows, cols]


def by_chapter(claims: Iterable[Claim]) -> pd.DataFrame:
    """Claims each chapter decides, fully, in part or (chapter 13) by a count on its page, with totals."""
    df = frame(claims)
    df = df[df["status"].isin(("chapter", "partly", "here"))]
    table = pd.crosstab(df["chapter"], df["status"], margins=True, margins_name="all")
    return table[[s for s in STATUSES if s in table.columns] + ["all"]]


def listing(claims: Iterable[Claim], status: str, subject: str = "", columns=None) -> pd.DataFrame:
    """The claims with one decision (and, when given, one subject), indexed by id, in report order."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    df = frame(c for c in claims if c.status == status and (not subject or c.subject == subject)).set_index("id")
    return df if columns is None else df[list(columns)]
