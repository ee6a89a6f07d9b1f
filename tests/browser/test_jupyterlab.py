"""The course in a real browser: JupyterLab served from the project's venv, driven by Debian's Chromium.

Opens notebooks, clears their outputs, runs all cells from the Run menu, waits until the kernel is idle
and every code cell shows an execution number, saves, and checks the saved file has no error output.
Screenshots go to build/browser/. Run with ``make test-browser`` (needs ``apt-get install chromium``;
never ``playwright install``, which downloads a browser).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from ppml_lab._ports import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # the same one tests/browser/conftest.py launches

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "browser"
# Notebook 00 plus one cryptography notebook (the first of these that exists).
CRYPTO_CANDIDATES = ("05_paillier.ipynb", "07_secret_sharing.ipynb", "06_ckks.ipynb")
NOTEBOOK_TIMEOUT = 420


def _notebooks() -> list[str]:
    names = ["00_why_ppml.ipynb"]
    for c in CRYPTO_CANDIDATES:
        if (ROOT / "notebooks" / c).exists():
            names.append(c)
            break
    return names



@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (never `playwright install`)")
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks")  # saving must not touch the repo's notebooks
    settings = work / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Render every cell so every prompt can be read (JupyterLab 4 virtualises long notebooks).
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(work / "settings"), JUPYTER_RUNTIME_DIR=str(work / "rt"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work / 'notebooks'}",
           "--ServerApp.open_browser=False", f"--LabApp.workspaces_dir={work / 'workspaces'}", *(["--allow-root"] if os.geteuid() == 0 else []), "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = open(work / "lab.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start within 90 s; log:\n{(work / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token, work / "notebooks"
    finally:
        _stop_group(proc)
        log.close()


def _stop_group(proc: subprocess.Popen) -> None:
    """End the server and every kernel it started (its own process group)."""
    for sig, wait in ((15, 20), (9, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# Only the notebook in the visible tab: hidden tabs keep their cells in the DOM.
NB = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _menu(page, menu: str, item: str) -> None:
    page.locator(f"li.lm-MenuBar-item:has-text('{menu}')").first.click()
    page.locator(f"li.lm-Menu-item:has-text('{item}')").first.click()


@pytest.mark.parametrize("name", _notebooks())
def test_run_all_cells_in_jupyterlab(lab, browser_context, name):
    base, token, folder = lab
    page = browser_context.new_page()
    page.set_default_timeout(60_000)
    # a fresh, named workspace per notebook: otherwise JupyterLab restores the previous test's tabs
    page.goto(f"{base}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={token}")
    # the indicator reads idle before a kernel exists: wait for the kernel's name, then for idle
    page.wait_for_selector(f"{NB} .jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{NB} .jp-Toolbar-kernelName, {NB} .jp-KernelName')]"
        ".some(e => e.textContent.includes('Python 3'))", timeout=120_000)
    page.wait_for_selector(f"{NB} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    # clear old outputs first, so committed prompts cannot look finished
    _menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{NB} .jp-CodeCell .jp-InputPrompt')].every(p => !/\\d/.test(p.textContent))")
    _menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        f"() => {{ const ps = [...document.querySelectorAll('{NB} .jp-CodeCell .jp-InputPrompt')];"
        f" const busy = document.querySelector(\"{NB} .jp-Notebook-ExecutionIndicator[data-status='busy']\");"
        " return ps.length > 0 && !busy && ps.every(p => /\\[\\d+\\]/.test(p.textContent)); }",
        timeout=NOTEBOOK_TIMEOUT * 1000, polling=1000)
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "() => !document.querySelector('.jp-mod-dirty, .jp-DocumentWidget .jp-mod-dirty')", timeout=30_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{Path(name).stem}.png"), full_page=False)
    page.close()
    # stderr and errors render alike in the page: the saved file is the judge
    nb = nbformat.read(folder / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    assert all(c.execution_count for c in code), f"{name}: a code cell was not executed"
