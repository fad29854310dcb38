"""Stored entries: a checksum and a fingerprint in every file; damaged or stale files are named,
moved aside and never read; finished files respect the umask; killed writers' partials are cleaned."""
import os
import subprocess
import sys

import pytest
import torch

from tempmodels import entries
from tempmodels.atomic import atomic_path, clean_partials

FP = {"data": "abc", "config": {"epochs": 2}}


@pytest.fixture()
def stored(tmp_path):
    path = tmp_path / "e.pt"
    entries.save({"w": torch.arange(1000.0), "n": 3}, path, FP)
    return path


def test_roundtrip(stored):
    obj = entries.load(stored, FP, required=("w", "n"))
    assert torch.equal(obj["w"], torch.arange(1000.0)) and obj["n"] == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flip", "plain_torch"])
def test_damaged_files_are_named(stored, damage):
    raw = stored.read_bytes()
    if damage == "truncate":
        stored.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        stored.write_bytes(os.urandom(len(raw)))
    elif damage == "empty":
        stored.write_bytes(b"")
    elif damage == "flip":
        stored.write_bytes(raw[:-10] + bytes([raw[-10] ^ 0xFF]) + raw[-9:])
    else:  # a file torch.save wrote without the header (an older version's entry)
        torch.save({"w": 1}, stored)
    with pytest.raises(entries.DamagedEntry, match=str(stored)):
        entries.load(stored, FP)


def test_missing_field_is_damage(stored):
    with pytest.raises(entries.DamagedEntry, match=r"lacks \['batchnorm'\]"):
        entries.load(stored, FP, required=("w", "batchnorm"))


def test_other_inputs_are_stale_and_say_what_differs(stored):
    with pytest.raises(entries.StaleEntry, match=r"data: stored 'abc', now 'xyz'"):
        entries.load(stored, {**FP, "data": "xyz"})


def test_load_or_set_aside_moves_the_file_and_warns(stored):
    stored.write_bytes(b"junk")
    with pytest.warns(UserWarning, match=f"checkpoint damaged, recomputing it: {stored}"):
        assert entries.load_or_set_aside(stored, FP, what="checkpoint") is None
    assert not stored.exists()
    aside = list(stored.parent.glob("e.pt.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"junk"
    assert entries.load_or_set_aside(stored, FP) is None  # nothing there: no warning, nothing to move


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_finished_files_respect_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == mode


def test_partials_of_dead_writers_are_cleaned(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    from tempmodels.atomic import _host

    left = tmp_path / f".ch.ipynb.{_host()}-{dead}.k3j2_x9a.partial.ipynb"
    live = tmp_path / f".ch.ipynb.{_host()}-{os.getpid()}.abcdefgh.partial.ipynb"
    elsewhere = tmp_path / f".ch.ipynb.otherhost-{dead}.abcdefgh.partial.ipynb"  # another machine's writer
    other = tmp_path / "ch.ipynb"
    for f in (left, live, elsewhere, other):
        f.write_text("{}")
    assert clean_partials(tmp_path) == [left]
    assert not left.exists() and live.exists() and elsewhere.exists() and other.exists()


def test_killed_writer_leaves_a_partial_that_the_next_run_removes(tmp_path):
    code = ("import os, sys; from tempmodels.atomic import atomic_path\n"
            f"with atomic_path({str(tmp_path / 'a.ipynb')!r}) as t:\n"
            "    t.write_text('half'); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", code])
    partial = list(tmp_path.glob(".*partial*"))
    assert len(partial) == 1 and not (tmp_path / "a.ipynb").exists()
    assert clean_partials(tmp_path) == partial and not list(tmp_path.iterdir())
