"""Where the time goes: each chapter's wall time split into training, scoring and reference rows,
with the runs trained and the runs taken from the run cache.

With ``TEMPMODELS_TIMINGS=<file.jsonl>`` set, the package appends one JSON line per event — a
training run (:func:`tempmodels.training.fit`), a cache hit and a scoring pass
(:func:`tempmodels.experiment.run_encoder`), a reference-row computation — and the executors add one
line per chapter (its start and end). The notebook kernels inherit the variable, so one file
collects everything; :func:`chapter_table` assigns each event to the chapter running when it
ended. ``make book`` (:mod:`tempmodels.execute`) and ``make test``'s nbval step print the table at
the end; ``python -m tempmodels.timing FILE`` prints it again.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pandas as pd

ENV = "TEMPMODELS_TIMINGS"
KINDS = ("train", "score", "references")
_depth = threading.local()


def record(kind: str, seconds: float, **extra) -> None:
    """Append one event to the timings file (nothing when ``TEMPMODELS_TIMINGS`` is unset)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"t": time.time(), "pid": os.getpid(), "kind": kind, "seconds": float(seconds), **extra})
    with open(path, "a") as f:  # one short append per event: lines from several processes do not interleave
        f.write(line + "\n")


@contextlib.contextmanager
def timed(kind: str, **extra) -> Iterator[None]:
    """Record the block's wall time as one ``kind`` event; nested ``timed`` blocks of any kind inside
    it are not recorded again (a reference row that scores PCA-d counts once)."""
    depth = getattr(_depth, "n", 0)
    _depth.n = depth + 1
    t0 = time.perf_counter()
    try:
        yield
    finally:
        _depth.n = depth
        if depth == 0:
            record(kind, time.perf_counter() - t0, **extra)


def timed_as(kind: str):
    """Decorator form of :func:`timed`."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*a, **k):
            with timed(kind):
                return fn(*a, **k)
        return inner
    return wrap


def read(path: str | os.PathLike) -> pd.DataFrame:
    """The events of a timings file (a line cut short by a killed process is skipped)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return pd.DataFrame(rows, columns=sorted({"t", "pid", "kind", "seconds", "name", "start"} |
                                             {k for r in rows for k in r}))


def chapter_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per chapter: wall time, runs trained / from the run cache, seconds in training, scoring,
    reference rows and the rest (kernel start, data, plots, ridge, …); a last row sums them."""
    chapters = events[events.kind == "chapter"].sort_values("start")
    work = events[events.kind != "chapter"]
    rows = []
    for ch in chapters.itertuples():
        inside = work[(work.t >= ch.start) & (work.t <= ch.t)]
        s = inside.groupby("kind").seconds.sum()
        n = inside.kind.value_counts()
        spent = {k: float(s.get(k, 0.0)) for k in KINDS}
        rows.append({"chapter": ch.name, "wall_s": ch.seconds, "runs_trained": int(n.get("train", 0)),
                     "runs_cached": int(n.get("cached", 0)), "train_s": spent["train"], "score_s": spent["score"],
                     "references_s": spent["references"], "other_s": ch.seconds - sum(spent.values())})
    table = pd.DataFrame(rows, columns=["chapter", "wall_s", "runs_trained", "runs_cached", "train_s", "score_s",
                                        "references_s", "other_s"])
    if len(table):
        total = table.drop(columns="chapter").sum()
        table = pd.concat([table, pd.DataFrame([{"chapter": "all chapters", **total.to_dict()}])], ignore_index=True)
    return table


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text, seconds rounded."""
    if table.empty:
        return "(no chapter was executed)"
    t = table.copy()
    for c in t.columns:
        if c.endswith("_s"):
            t[c] = t[c].round(0).astype(int)
        elif c.startswith("runs_"):
            t[c] = t[c].astype(int)
    return t.to_string(index=False)


def report(path: str | os.PathLike, title: str = "where the time went") -> str:
    text = f"== {title} (seconds; {path})\n" + format_table(chapter_table(read(path)))
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tempmodels.timing TIMINGS.jsonl", file=sys.stderr)
        return 2
    print(report(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
