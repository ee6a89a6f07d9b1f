"""The built book (``make book``) in a real browser: Debian's Chromium driven by Playwright.

Serves build/book/ on a loopback port and opens EVERY page of it with the network cut off: anything the
page asks for outside the site (a font, a CDN script) is refused and reported. On each page: no console
error, no uncaught exception, no failed or 4xx/5xx request, every image decoded, math typeset by the
site's own MathJax, and every internal link pointing at a page (and #anchor) that exists. Also: the
course map lists every notebook with its Binder link, search answers offline, and screenshots are kept
in build/book-screens/ (not committed). Run with ``make book test-book`` (needs ``apt-get install
chromium``; never ``playwright install``, which downloads a browser).
"""

from __future__ import annotations

import functools
import html
import http.server
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "book"
SHOTS = ROOT / "build" / "book-screens"
BINDER = "https://mybinder.org/v2/gh/ppml-lab/ppml-lab/HEAD?urlpath=lab/tree/notebooks/{file}"


def _notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _pages() -> list[str]:
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
                  if not p.relative_to(SITE).as_posix().startswith(("_static/", "_sources/")))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reports failures itself
        pass


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        pytest.fail(f"{SITE} has no index.html: run `make book` first")
    handler = functools.partial(_Quiet, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# Runs in the page after load: force lazy images to load, wait for each to decode, wait for MathJax.
_INSPECT = """async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  const bad = [];
  await Promise.all(imgs.map(async i => {
    try { await i.decode(); } catch (e) { bad.push(i.getAttribute('src')); return; }
    if (!i.complete || (i.naturalWidth === 0 && !/\\.svg(\\?|#|$)/.test(i.src))) bad.push(i.getAttribute('src'));
  }));
  let mathjax = null;
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    mathjax = {
      math: document.querySelectorAll('.math').length,
      typeset: document.querySelectorAll('mjx-container').length,
      errors: document.querySelectorAll('mjx-merror, .MathJax_Error').length,
    };
  }
  return {
    images: imgs.length,
    broken_images: bad,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id], a[name]')].map(e => e.id || e.getAttribute('name')),
    mathjax,
  };
}"""


@pytest.fixture(scope="module")
def visited(site, browser_context):
    """Open every page once; record what went wrong on each."""
    external: list[str] = []

    def route(r):
        if r.request.url.startswith(site):
            r.continue_()
        else:  # the book must not need the network to be read
            external.append(r.request.url)
            r.abort()

    browser_context.route("**/*", route)
    results = {}
    page = browser_context.new_page()
    page.set_default_timeout(60_000)
    events: list[str] = []
    page.on("console", lambda m: events.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: events.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: events.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: events.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    for rel in _pages():
        events.clear()
        external.clear()
        resp = page.goto(f"{site}/{rel}", wait_until="load")
        info = page.evaluate(_INSPECT)
        info.update(status=resp.status if resp else None, events=list(events), external=list(external))
        results[rel] = info
    page.close()
    return site, results


def test_book_has_every_notebook_and_the_api(visited):
    _, results = visited
    for nb in _notebooks():
        assert f"notebooks/{nb.stem}.html" in results, f"{nb.name} has no page in the book"
    assert "index.html" in results and "search.html" in results
    api = [p for p in results if p.startswith("api/")]
    assert "api/ppml_lab.html" in api and len(api) > 10, api
    assert not any("flower_app" in p for p in api), "ppml_lab.fl.flower_app is not public API"
    assert not any("/_" in p for p in api), "private modules have no API page"


def test_book_has_the_glossary_and_the_learner_columns():
    """The glossary page lists every term of ppml_lab.course.GLOSSARY, each linked to the notebook that
    introduces it; the course map shows prerequisites and the study-time estimate."""
    from ppml_lab.course import GLOSSARY

    text = (SITE / "glossary.html").read_text(encoding="utf-8")
    for e in GLOSSARY:
        assert html.escape(e.term, quote=False) in text, e.term
        assert f"notebooks/{e.notebook.removesuffix('.ipynb')}.html" in text, e.notebook
    index = (SITE / "index.html").read_text(encoding="utf-8")
    assert "Study (est.)" in index and "Before it" in index and "glossary.html" in index


def test_every_page_loads_without_errors(visited):
    _, results = visited
    problems = {rel: r["events"] for rel, r in results.items() if r["status"] != 200 or r["events"]}
    assert not problems, problems


def test_nothing_is_fetched_from_outside_the_site(visited):
    _, results = visited
    problems = {rel: r["external"] for rel, r in results.items() if r["external"]}
    assert not problems, problems


def test_every_image_renders(visited):
    _, results = visited
    problems = {rel: r["broken_images"] for rel, r in results.items() if r["broken_images"]}
    assert not problems, problems
    assert sum(r["images"] for r in results.values()) > 0


def test_math_is_typeset_offline(visited):
    _, results = visited
    with_math = {rel: r["mathjax"] for rel, r in results.items() if r["mathjax"] and r["mathjax"]["math"]}
    assert with_math, "no page has math: MathJax was not loaded, or the notebooks lost their formulas"
    bad = {rel: m for rel, m in with_math.items() if m["typeset"] < m["math"] or m["errors"]}
    assert not bad, bad


def test_no_broken_internal_link(visited):
    site, results = visited
    broken = []
    for rel, r in results.items():
        for href in r["links"]:
            if not href.startswith(site + "/"):
                continue
            url, frag = urldefrag(href)
            path = unquote(urlsplit(url).path).lstrip("/") or "index.html"
            if path.endswith("/"):
                path += "index.html"
            if not (SITE / path).is_file():
                broken.append(f"{rel} -> {href} (no {path})")
            elif frag and path in results and unquote(frag) not in results[path]["ids"]:
                broken.append(f"{rel} -> {href} (no #{frag} in {path})")
    assert not broken, broken[:30]


def test_course_map_lists_every_notebook_with_its_binder_link(visited):
    site, results = visited
    index = results["index.html"]["links"]
    for nb in _notebooks():
        assert f"{site}/notebooks/{nb.stem}.html" in index, f"the course map does not link {nb.name}"
        assert BINDER.format(file=nb.name) in index, f"the course map has no Binder link for {nb.name}"
        # and the notebook's own page has its launch button
        assert BINDER.format(file=nb.name) in results[f"notebooks/{nb.stem}.html"]["links"], nb.name


def test_search_works_offline_and_screenshots_are_kept(visited, browser_context):
    site, _ = visited
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site}/search.html?q=epsilon", wait_until="load")
    # Sphinx lists hits one by one, then writes its summary: wait for the summary
    page.wait_for_function(
        "() => { const s = document.querySelector('#search-results .search-summary');"
        " return s && /\\d/.test(s.textContent); }", timeout=60_000)
    hits = page.locator("#search-results ul.search li")
    assert hits.count() > 0
    assert any("notebooks/" in (hits.nth(i).locator("a").first.get_attribute("href") or "")
               for i in range(hits.count())), "searching 'epsilon' found no notebook"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "search.png"))
    for rel, name in (("index.html", "index.png"), (f"notebooks/{_notebooks()[1].stem}.html", "notebook.png")):
        page.goto(f"{site}/{rel}", wait_until="networkidle")
        page.screenshot(path=str(SHOTS / name), full_page=False)
    page.close()
    assert not errors, errors
    assert (SHOTS / "index.png").stat().st_size > 10_000


# ---- the build's own checks, without a browser (they run under `make test-book` too) ----------------
def _ppml_book():
    import importlib
    import sys

    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        return importlib.import_module("ppml_book")
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))


def test_link_check_finds_missing_pages_anchors_and_escapes(tmp_path):
    check = _ppml_book().broken_internal_links
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="a/page.html#here">ok</a> <a href="#top" id="top">self</a> <img src="a/pic.png">'
        ' <a href="https://example.org/x">external, not checked</a>')
    (tmp_path / "a" / "page.html").write_text('<h1 id="here">x</h1> <a href="../index.html">up</a>')
    (tmp_path / "a" / "pic.png").write_bytes(b"png")
    assert check(tmp_path) == []
    (tmp_path / "a" / "page.html").write_text(
        '<h1 id="elsewhere">x</h1> <a href="../gone.html">gone</a> <a href="../../outside.html">out</a>')
    (tmp_path / "a" / "pic.png").unlink()
    found = check(tmp_path)
    assert any("no anchor #here" in f for f in found), found
    assert any("missing gone.html" in f for f in found), found
    assert any("leaves the site" in f for f in found), found
    assert any("missing a/pic.png" in f for f in found), found


def test_api_pages_cover_public_modules_only():
    mods = _ppml_book().public_modules("ppml_lab", ("ppml_lab.fl.flower_app",))
    assert "ppml_lab" in mods and "ppml_lab.dp.mechanisms" in mods
    assert not [m for m in mods if any(p.startswith("_") for p in m.split("."))]
    assert not [m for m in mods if m.startswith("ppml_lab.fl.flower_app")]
