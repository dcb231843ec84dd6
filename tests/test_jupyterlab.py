"""The workbook as a student uses it: JupyterLab in a real browser, Q1's CNN edited in its cell, then Q3.

JupyterLab runs headless on a free port over a copy of the chapters; Playwright drives the Chromium that
`make pdf-tools` installs (nothing is downloaded). The kernel trains on a small synthetic csv into a temporary
runs folder, so the test takes about a minute.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from fer_utils import models, paths, report, synth

playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e .[test])")
CHROMIUM = report.find_chromium()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (make pdf-tools)")]

#: What the student types at the end of Q1's model cell: a narrower network of their own.
EDIT = ('cnn = build_cnn(widths=(8, 16, 32), convs_per_stage=(1, 1, 1), dense_units=0, dropout_rate=0.0, '
        'name="my_cnn"); print(f"{cnn.name}: {cnn.count_params():,} parameters")')


#: The notebook on screen (others may be open in hidden tabs).
SHOWN = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _chapters(folder, data):
    """Copies of Q1 and Q3 whose parameters point at ``data`` (the student's data_path), outputs cleared."""
    folder.mkdir()
    for name in ("01-cnn.ipynb", "03-confusion-matrix.ipynb"):
        notebook = nbformat.read(str(paths.NOTEBOOKS_DIR / name), as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
                if "parameters" in cell.metadata.get("tags", []):
                    cell.source = cell.source.replace('data_path: str = ""', f"data_path: str = {str(data)!r}")
        nbformat.write(notebook, str(folder / name))


@pytest.fixture()
def jupyterlab(tmp_path):
    """A JupyterLab server over a copy of the chapters; yields its URL."""
    data = synth.write_csv(tmp_path / "faces.csv", n=420, seed=6, progress=False)
    _chapters(tmp_path / "lab", data)
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)  # every cell in the page, not only those scrolled into view
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port = _free_port()
    environment = {**os.environ, "FER_RUNS_DIR": str(tmp_path / "runs"), "FER_CACHE_DIR": str(tmp_path / "cache"),
                   "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.allow_root=True",
         "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={tmp_path / 'lab'}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=environment, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.5)
    yield url
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)


def _open(page, url, name):
    """Open a notebook in JupyterLab and wait for its kernel."""
    page.goto(f"{url}/lab/tree/{name}?reset")  # ?reset: a fresh workspace, only this notebook open
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)


def _run_all(page, expect, timeout_ms=240_000):
    """Run every cell of the open notebook from the Run menu; wait until all ran and ``expect`` shows; its text."""
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    try:
        page.wait_for_function(
            f"""(expect) => document.querySelector("{SHOWN}").innerText.includes(expect)
                           && !document.querySelector("{SHOWN}").innerText.includes('[*]')""",
            arg=expect, timeout=timeout_ms, polling=1000)
    except playwright.TimeoutError:
        page.screenshot(path="/tmp/fer-jupyterlab-failure.png")
        raise AssertionError(f"{expect!r} never showed; the page read:\n{page.inner_text(SHOWN)[-4000:]}")
    return page.inner_text(SHOWN)


def test_a_student_edits_the_cnn_in_jupyterlab_and_q3_analyses_it(jupyterlab):
    expected = models.vgg(widths=(8, 16, 32), convs_per_stage=1, dense_units=0, dropout_rate=0.0, name="my_cnn")
    count = f"{expected.count_params():,}"
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("dialog", lambda dialog: dialog.accept())  # leaving a page: JupyterLab may ask
        _open(page, jupyterlab, "01-cnn.ipynb")
        editor = page.locator(".jp-Cell .cm-content", has_text="def build_cnn(").first
        editor.click()
        page.keyboard.press("Control+End")  # the end of the model cell: the student adds their own network
        page.keyboard.press("Enter")
        page.keyboard.insert_text(EDIT)
        text = _run_all(page, "glued for the report: environment")
        assert f"my_cnn: {count} parameters" in text, text[-3000:]
        assert f"{count} parameters" in text.split("my_cnn:")[-1], "the layer table and its sentence follow the edit"
        page.keyboard.press("Control+s")  # the student saves, then opens Q3
        page.wait_for_selector(".lm-TabBar-tab.jp-mod-dirty", state="detached", timeout=60_000)
        _open(page, jupyterlab, "03-confusion-matrix.ipynb")
        page.wait_for_selector(f"{SHOWN} h1:has-text('Q3 ·')", timeout=60_000)
        text = _run_all(page, "glued for the report: confusions")
        assert "the CNN Q1 trained: my_cnn-quick-" in text and f"({count} parameters)" in text, text[:3000]
        browser.close()
