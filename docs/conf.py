"""Sphinx configuration of the ppml-lab book: `make book` builds it into build/book/.

The book is the committed notebooks, rendered with their committed outputs (never re-executed), plus an
API reference generated from the package's docstrings. Everything it needs is local: the theme's assets,
the search index and MathJax are copied into the site, so it builds and reads with no network.

What is built is found at build time, never listed by hand:
* notebooks: the glob ``notebooks/[0-9][0-9]_*.ipynb`` (``docs/notebooks`` is a link to ``../notebooks``);
* API pages: every public module of ``ppml_lab`` (see ``_ext/ppml_book.py``).
A missing notebook page or a broken internal link fails the build; docstring warnings do not.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT))

project = "ppml-lab"
author = "the ppml-lab authors"
copyright = "the ppml-lab authors"
html_title = "Privacy-preserving machine learning, from scratch"

REPOSITORY = "https://github.com/ppml-lab/ppml-lab"
BINDER = "https://mybinder.org/v2/gh/ppml-lab/ppml-lab/HEAD?urlpath=lab/tree/notebooks/{file}"
NOTEBOOK_GLOB = "notebooks/[0-9][0-9]_*.ipynb"
# Modules that are not part of the public API even though their name has no leading underscore:
# the Flower app is loaded by Flower's own runtime (importing it registers apps as a side effect).
API_EXCLUDE = ("ppml_lab.fl.flower_app",)

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "ppml_book",
]

root_doc = "index"
# Only the course and the reference are pages: student editions, checkpoints
# and anything else in notebooks/ stay out.
include_patterns = ["index.md", "glossary.md", "api.md", "api/*.rst", NOTEBOOK_GLOB]
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
templates_path: list[str] = []

# Notebooks: outputs as committed.
nb_execution_mode = "off"
nb_merge_streams = True
# Widgets (tqdm bars) would need require.js and the widget manager from a CDN: render their text instead.
nb_ipywidgets_js: dict[str, dict[str, str]] = {}
nb_mime_priority_overrides = [
    ("html", "application/vnd.jupyter.widget-view+json", None),
    ("html", "application/vnd.jupyter.widget-state+json", None),
]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

# API reference from docstrings.
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
    # each object once, on the page of the module that defines it (sub-packages re-export)
    "ignore-module-all": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = True

# MathJax from the site itself, not a CDN (see ppml_book.stage_mathjax).
mathjax_path = "mathjax/tex-chtml-full.js"

html_theme = "sphinx_book_theme"
html_static_path: list[str] = []  # ppml_book adds the staged MathJax
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
# Unset, the theme logs "Got invalid theme mode" as a console error on a browser's first visit.
html_context = {"default_mode": "light"}
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "HEAD",
    "path_to_docs": "",  # docs/notebooks -> notebooks: page notebooks/X is the file notebooks/X.ipynb
    "use_repository_button": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
    "navigation_with_keys": False,
}

# Read by _ext/ppml_book.py.
notebook_glob = NOTEBOOK_GLOB
binder_url_template = BINDER
api_exclude = API_EXCLUDE
