"""The browser check fails, naming the page and the problem, on what a reader would see broken."""
import shutil

import pytest

from tempmodels import bookcheck

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _page(path, body):
    path.write_text(f"<!doctype html><html><body><main>{body}</main></body></html>")
    return path


def test_good_page_passes_and_is_screenshotted(tmp_path):
    good = _page(tmp_path / "good.html", f"<p>fine</p><img src='data:image/png;base64,{PNG}'>"
                                         "<audio controls><source src='data:audio/wav;base64,UklGRg==' type='audio/wav'></audio>")
    (r,) = bookcheck.check_book(tmp_path, [good], tmp_path / "shots")
    assert r.ok, r.problems
    assert r.images == 1 and r.audio == 1 and (tmp_path / "shots" / "good.png").stat().st_size > 100


@pytest.mark.parametrize("body,expected", [
    (r"<p>the cost is \(2TH\) flops</p>", "raw TeX delimiter"),
    ("<img src='missing.png'>", "image not loaded: missing.png"),
    ("<audio controls></audio>", "audio player(s) without a source"),
    ("<script>undefined_function()</script>", "JavaScript exception"),
    ("<img src='https://cdn.example.org/x.png'>", "needs the network"),
    ("<div class='cell_output'>/x.py:3: UserWarning: careful</div>", "warning or traceback text"),
])
def test_broken_page_fails_and_names_the_problem(tmp_path, body, expected):
    bad = _page(tmp_path / "broken_page.html", body)
    (r,) = bookcheck.check_book(tmp_path, [bad])
    assert not r.ok and r.page == "broken_page.html"
    assert any(expected in p for p in r.problems), r.problems


def test_cli_exit_code_names_failed_pages(tmp_path, capsys):
    _page(tmp_path / "a.html", "<p>ok</p>")
    bad = _page(tmp_path / "b.html", r"<p>\[x\]</p>")
    assert bookcheck.main([str(tmp_path), "--page", str(bad), "--screenshots", str(tmp_path / "s")]) == 1
    assert "FAILED on 1 page(s): b.html" in capsys.readouterr().err
