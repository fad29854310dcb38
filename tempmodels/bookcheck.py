"""The built book as a reader sees it: every chapter page opened in headless Chromium, offline.

    python -m tempmodels.bookcheck book/_build/html --screenshots build/screenshots

For each page it checks, after MathJax has typeset:

* **offline** — any request that is not a local file or a data URI is blocked and reported;
* **math** — no raw TeX delimiters (``\\(``, ``\\[``, ``$$``) left in the visible text, and every
  math element typeset;
* **images** — every ``<img>`` loaded (``naturalWidth > 0``);
* **audio** — every ``<audio>`` player has a source;
* **clean outputs** — no traceback or warning text in cell outputs;
* **no JavaScript errors** — console errors and uncaught exceptions.

A full-page screenshot of each page is kept. A page that fails names itself and what failed; the
command exits 1. Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright without
downloading a browser of its own.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$")
OUTPUT_PROBLEMS = re.compile(r"Traceback \(most recent call last\)|\b\w*Warning: |\bWARNING\b")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


@dataclass
class PageReport:
    page: str
    problems: list[str] = field(default_factory=list)
    math: int = 0
    images: int = 0
    audio: int = 0
    screenshot: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("no Chromium found (Debian/Ubuntu: apt-get install chromium); the browser check needs one")


_INSPECT = """() => {
  const visible = document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText;
  const imgs = Array.from(document.images);
  const audios = Array.from(document.querySelectorAll('audio'));
  const math = document.querySelectorAll('.math, span.math, div.math');
  const typeset = document.querySelectorAll('mjx-container');
  const outputs = Array.from(document.querySelectorAll('.cell_output')).map(e => e.innerText).join('\\n');
  return {
    visible: visible,
    outputs: outputs,
    images: imgs.map(i => ({src: (i.getAttribute('src') || '').slice(0, 120), ok: i.complete && i.naturalWidth > 0})),
    audio: audios.map(a => !!(a.getAttribute('src') || Array.from(a.querySelectorAll('source')).some(s => s.getAttribute('src')))),
    math: math.length,
    typeset: typeset.length,
  };
}"""


def check_page(browser, html: Path, screenshot_dir: Path | None, timeout_ms: int = 60_000) -> PageReport:
    report = PageReport(page=html.name)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and report.problems.append(f"console error: {m.text[:200]}"))
    page.on("pageerror", lambda e: report.problems.append(f"JavaScript exception: {str(e)[:200]}"))
    try:
        page.goto(html.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
        has_mathjax = page.evaluate("() => !!(window.MathJax && window.MathJax.startup)")
        if has_mathjax:
            page.evaluate("() => window.MathJax.startup.promise", )
        info = page.evaluate(_INSPECT)
    except Exception as err:  # noqa: BLE001 - a page that cannot be inspected is a failed page
        report.problems.append(f"could not be inspected: {type(err).__name__}: {str(err)[:200]}")
        page.close()
        return report
    report.math, report.images, report.audio = info["math"], len(info["images"]), len(info["audio"])
    for url in blocked:
        report.problems.append(f"needs the network: {url[:120]}")
    raw = RAW_TEX.findall(info["visible"])
    if raw:
        report.problems.append(f"{len(raw)} raw TeX delimiter(s) in the visible text (math not typeset), e.g. {raw[0]!r}")
    if info["math"] and info["typeset"] < info["math"]:
        report.problems.append(f"{info['math']} math elements but {info['typeset']} typeset by MathJax")
    for img in info["images"]:
        if not img["ok"]:
            report.problems.append(f"image not loaded: {img['src']}")
    missing_audio = sum(not a for a in info["audio"])
    if missing_audio:
        report.problems.append(f"{missing_audio} audio player(s) without a source")
    bad = OUTPUT_PROBLEMS.findall(info["outputs"])
    if bad:
        report.problems.append(f"warning or traceback text in cell outputs: {sorted(set(bad))}")
    if screenshot_dir is not None:
        screenshot_dir.mkdir(parents=True, exist_ok=True)
        shot = screenshot_dir / f"{html.stem}.png"
        page.screenshot(path=str(shot), full_page=True)
        report.screenshot = str(shot)
    page.close()
    return report


def check_book(html_dir: str | Path, pages: list[Path] | None = None, screenshot_dir: str | Path | None = None,
               chromium: str | None = None) -> list[PageReport]:
    from playwright.sync_api import sync_playwright

    html_dir = Path(html_dir)
    if pages is None:
        pages = sorted((html_dir / "book" / "chapters").glob("*.html"))
        if not pages:
            raise FileNotFoundError(f"no chapter pages under {html_dir / 'book' / 'chapters'}: build the book first")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium or find_chromium(), args=BROWSER_ARGS, headless=True)
        try:
            return [check_page(browser, page, Path(screenshot_dir) if screenshot_dir else None) for page in pages]
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html", type=Path, nargs="?", default=Path("book/_build/html"))
    ap.add_argument("--screenshots", type=Path, default=Path("build/screenshots"))
    ap.add_argument("--page", type=Path, action="append", help="check only this HTML file (repeatable)")
    args = ap.parse_args(argv)
    reports = check_book(args.html, args.page, args.screenshots)
    for r in reports:
        status = "ok  " if r.ok else "FAIL"
        print(f"{status} {r.page}: {r.math} math, {r.images} images, {r.audio} audio players"
              + (f"; screenshot {r.screenshot}" if r.screenshot else ""))
        for problem in r.problems:
            print(f"     - {problem}")
    failed = [r.page for r in reports if not r.ok]
    if failed:
        print(f"browser check FAILED on {len(failed)} page(s): {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"browser check: {len(reports)} page(s) ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
