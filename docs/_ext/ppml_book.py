"""The book's own Sphinx extension: API pages from the package, the course map, offline MathJax, checks.

* ``generate_api_pages``: walks ``ppml_lab`` at build time and writes one page per public module into
  ``docs/api/`` (generated, git-ignored), so modules added or moved by anyone appear without editing docs.
* ``course-map`` directive: a table of every notebook matching ``notebook_glob`` (title from the notebook's
  first heading, the outcome from ``ppml_lab.course.COURSE`` when listed there) with its Binder link.
* ``stage_mathjax``: copies MathJax 3 (from the ``sphinx-mathjax-offline`` wheel) into the site, the
  single-file ``tex-chtml-full`` build plus its fonts, so math renders with no network.
* ``check_site`` (build-finished): fails the build when a notebook has no page, or a page links to a
  local file or anchor that is not in the site.
"""

from __future__ import annotations

import glob
import html.parser
import importlib
import json
import logging as std_logging
import pkgutil
import posixpath
import re
import shutil
import sysconfig
from pathlib import Path
from urllib.parse import unquote, urlsplit

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.logging import get_node_location

logger = logging.getLogger(__name__)

PACKAGE = "ppml_lab"


# ----------------------------------------------------------------------------------------------- notebooks
def notebook_files(app: Sphinx) -> list[Path]:
    """The course's notebooks, found by the glob (through the docs/notebooks link)."""
    return sorted(Path(p) for p in glob.glob(str(Path(app.srcdir) / app.config.notebook_glob)))


def notebook_title(path: Path) -> str:
    """The text of the notebook's first level-1 heading, or its file stem."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        for line in src.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem


def binder_url(app: Sphinx, name: str) -> str:
    return app.config.binder_url_template.format(file=name)


class CourseMap(SphinxDirective):
    """``{course-map}``: one row per notebook found by the glob at build time."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from ppml_lab.course import COURSE, PREREQUISITES, study_minutes

        outcomes = {f: goal for f, _, goal in COURSE}
        rows = ["| | Notebook | After it you can | Before it | Study (est.) | Run it |",
                "| --- | --- | --- | --- | --- | --- |"]
        files = notebook_files(self.env.app)
        if not files:
            raise self.error(f"no notebook matches {self.config.notebook_glob}")
        for path in files:
            self.env.note_dependency(str(path))
            title = notebook_title(path).replace("|", "\\|")
            # "00 — Why ..." -> "Why ...": the number has its own column
            title = re.sub(r"^\d\d\s*[—–-]\s*", "", title)
            goal = outcomes.get(path.name, "").replace("|", "\\|")
            before, background = PREREQUISITES.get(path.name, ((), ""))
            prereq = ", ".join(b[:2] for b in before) or "none"
            if background:
                prereq += f"; {background}"
            prereq = prereq.replace("|", "\\|")
            rows.append(
                f"| {path.name[:2]} | {{doc}}`{title} <notebooks/{path.stem}>` | {goal} "
                f"| {prereq} | {study_minutes(path)} min "
                f"| [Binder]({binder_url(self.env.app, path.name)}) |"
            )
        container = nodes.container(classes=["ppml-course-map"])
        self.state.nested_parse(StringList(rows, source="course-map"), self.content_offset, container)
        return [container]


class Glossary(SphinxDirective):
    """``{course-glossary}``: the course's terms from ``ppml_lab.course.GLOSSARY``, each with the notebook that
    introduces it (linked)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from ppml_lab.course import GLOSSARY

        rows = ["| Term | Meaning | Introduced in |", "| --- | --- | --- |"]
        for e in GLOSSARY:
            stem = e.notebook.removesuffix(".ipynb")
            term, meaning = (x.replace("|", "\\|") for x in (e.term, e.definition))
            rows.append(f"| {term} | {meaning} | {{doc}}`{e.notebook[:2]} <notebooks/{stem}>` |")
        container = nodes.container(classes=["ppml-glossary"])
        self.state.nested_parse(StringList(rows, source="course-glossary"), self.content_offset, container)
        return [container]


def always_reread(app: Sphinx, env, added, changed, removed) -> list[str]:
    # the course map and the API index depend on which notebooks and modules exist
    return [d for d in ("index", "api", "glossary") if d in env.found_docs]


# --------------------------------------------------------------------------------------------------- API
def public_modules(package: str, exclude: tuple[str, ...]) -> list[str]:
    """Every importable module of ``package`` with no ``_``-prefixed part, minus ``exclude`` (and below)."""
    pkg = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, prefix=package + ".", onerror=lambda name: None):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts):
            continue
        if any(info.name == e or info.name.startswith(e + ".") for e in exclude):
            continue
        names.append(info.name)
    return sorted(names)


def _reexports_from_private(modname: str) -> list[tuple[str, str]]:
    """Names in ``modname.__all__`` whose object is defined in a private module (no page of their own)."""
    mod = importlib.import_module(modname)
    out = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name, None)
        origin = getattr(obj, "__module__", None) or ""
        if not origin.startswith(PACKAGE) or not any(p.startswith("_") for p in origin.split(".")):
            continue
        kind = "autoclass" if isinstance(obj, type) else "autofunction" if callable(obj) else "autodata"
        out.append((kind, name))
    return out


def generate_api_pages(app: Sphinx, config) -> None:
    out = Path(app.srcdir) / "api"
    out.mkdir(exist_ok=True)
    wanted: dict[str, str] = {}
    for modname in public_modules(PACKAGE, tuple(config.api_exclude)):
        try:
            extras = _reexports_from_private(modname)
        except Exception as exc:  # autodoc reports the import error on the page's build too
            logger.warning(f"API: cannot import {modname}: {exc!r}", type="ppml_book", subtype="import")
            extras = []
        lines = [modname, "=" * len(modname), "", f".. automodule:: {modname}", ""]
        for kind, name in extras:
            lines += [f".. {kind}:: {modname}.{name}", "   :no-index:" if kind == "autodata" else "", ""]
        wanted[f"{modname}.rst"] = "\n".join(lines)
    for old in out.glob("*.rst"):
        if old.name not in wanted:
            old.unlink()
    for name, text in wanted.items():
        page = out / name
        if not page.exists() or page.read_text(encoding="utf-8") != text:  # keep mtimes: incremental builds
            page.write_text(text, encoding="utf-8")
    logger.info(f"ppml_book: {len(wanted)} API pages")


# ------------------------------------------------------------------------------------------------ MathJax
def stage_mathjax(app: Sphinx, config) -> None:
    """Copy the MathJax build and fonts into a staging dir that becomes part of _static."""
    candidates = [Path(sysconfig.get_paths()["purelib"]) / "sphinx-mathjax-offline" / "static" / "mathjax"]
    src = next((c for c in candidates if (c / "tex-chtml-full.js").exists()), None)
    if src is None:
        raise ExtensionError(
            "MathJax is not installed: pip install sphinx-mathjax-offline (the book never loads it from a CDN)")
    stage = Path(app.outdir).parent / "book_static"
    dest = stage / "mathjax"
    fonts = Path("output", "chtml", "fonts", "woff-v2")
    if not (dest / "tex-chtml-full.js").exists():
        (dest / fonts).mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / "tex-chtml-full.js", dest / "tex-chtml-full.js")
        for f in (src / fonts).glob("*.woff"):
            shutil.copy2(f, dest / fonts / f.name)
    config.html_static_path = [*config.html_static_path, str(stage)]
    # tex-chtml-full bundles every TeX extension: nothing may be fetched on demand (no network, no 404).
    config.mathjax3_config = {
        "loader": {"load": []},
        "options": {"enableMenu": True},
    }  # fonts: MathJax's default, [mathjax]/output/chtml/fonts/woff-v2, relative to the script itself


# ------------------------------------------------------------------------------------------------- checks
def defuse_docstring_problems(app: Sphinx, doctree, docname: str) -> None:
    """On API pages, show reST that a docstring got wrong (``|x|`` read as a substitution) as its text.

    docutils turns such markup into a link to an error message that HTML never shows: a dead link. The
    warning stays in the log (docstring warnings do not fail the book); the page shows the source text.
    Notebook pages are left alone, so a broken link there still fails the build.
    """
    if not docname.startswith("api/"):
        return
    for node in list(doctree.findall(nodes.problematic)):
        node.replace_self(nodes.literal(node.astext(), node.astext()))


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key) is not None and not (tag == "link" and a.get("rel") in ("preconnect", "dns-prefetch")):
                self.refs.append((tag, a[key]))


# Warnings that mean a broken internal link or a missing page, wherever they come from except docstrings.
LINK_WARNINGS = {"ref.doc", "ref.ref", "ref.any", "ref.numref", "ref.keyword", "myst.xref_missing",
                 "myst.iref_ambiguous", "myst.xref_ambiguous", "toc.not_readable", "toc.excluded",
                 "toc.not_included", "image.not_readable"}


class LinkWarnings(std_logging.Handler):
    """Collects Sphinx's broken-link warnings outside docstrings (those fail the book)."""

    def __init__(self) -> None:
        super().__init__(level=std_logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: std_logging.LogRecord) -> None:
        key = f"{getattr(record, 'type', None)}.{getattr(record, 'subtype', None)}"
        text = record.getMessage()
        if key not in LINK_WARNINGS and "nonexisting document" not in text:
            return
        loc = getattr(record, "location", None)
        if isinstance(loc, nodes.Node):
            loc = get_node_location(loc)
        if "docstring of" in str(loc):
            return
        msg = f"{loc}: {text} [{key}]"
        if msg not in self.found:  # a warning deferred during reading reaches handlers twice
            self.found.append(msg)


def broken_internal_links(outdir: Path) -> list[str]:
    """Every local href/src in the site's HTML that names a missing file or a missing #anchor."""
    pages: dict[str, _Links] = {}
    for page in sorted(outdir.rglob("*.html")):
        rel = page.relative_to(outdir).as_posix()
        if rel.startswith(("_static/", "_sources/")):
            continue
        p = _Links()
        p.feed(page.read_text(encoding="utf-8", errors="replace"))
        pages[rel] = p
    broken = []
    for rel, p in pages.items():
        for tag, ref in p.refs:
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc or ref.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = rel if parts.path == "" else posixpath.normpath(
                posixpath.join(posixpath.dirname(rel), unquote(parts.path)))
            if target.startswith("../"):
                broken.append(f"{rel}: <{tag}> {ref} leaves the site")
                continue
            if not (outdir / target).exists():
                broken.append(f"{rel}: <{tag}> {ref} -> missing {target}")
                continue
            if parts.fragment and target.endswith(".html") and target in pages:
                if unquote(parts.fragment) not in pages[target].ids:
                    broken.append(f"{rel}: <{tag}> {ref} -> no anchor #{parts.fragment} in {target}")
    return broken


def check_site(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    problems = []
    # the notebooks that existed when the build started (a notebook saved mid-build is for the next one)
    for nb in app.ppml_book_notebooks:
        page = outdir / "notebooks" / f"{nb.stem}.html"
        if not page.exists():
            problems.append(f"notebook {nb.name} has no page ({page.relative_to(outdir)})")
    problems += app.ppml_book_link_warnings.found
    problems += broken_internal_links(outdir)
    if problems:
        for p in problems:
            logger.error(f"ppml_book: {p}")
        app.statuscode = 1
        raise ExtensionError(f"the book has {len(problems)} broken link(s) or missing page(s): "
                             + "; ".join(problems[:10]))
    logger.info(f"ppml_book: {len(app.ppml_book_notebooks)} notebook pages, no broken internal link")


def remember_notebooks(app: Sphinx, config) -> None:
    app.ppml_book_notebooks = notebook_files(app)
    if not app.ppml_book_notebooks:
        raise ExtensionError(f"no notebook matches {config.notebook_glob} under {app.srcdir}")


def setup(app: Sphinx) -> dict:
    app.add_config_value("notebook_glob", "notebooks/[0-9][0-9]_*.ipynb", "env")
    app.add_config_value("binder_url_template", "", "env")
    app.add_config_value("api_exclude", (), "env")
    app.add_directive("course-map", CourseMap)
    app.add_directive("course-glossary", Glossary)
    app.ppml_book_link_warnings = LinkWarnings()
    std_logging.getLogger("sphinx").addHandler(app.ppml_book_link_warnings)
    app.connect("config-inited", remember_notebooks)
    app.connect("config-inited", generate_api_pages)
    app.connect("config-inited", stage_mathjax)
    app.connect("env-get-outdated", always_reread)
    app.connect("doctree-resolved", defuse_docstring_problems)
    app.connect("build-finished", check_site)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
