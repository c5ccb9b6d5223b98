"""Notebook 06's explorer driven as a user would: JupyterLab under headless Chromium (Playwright), fully offline.

The recipe (issue 16): JupyterLab from this interpreter on 127.0.0.1 with a free port and a token, its own config,
data, runtime, settings and workspaces folders in a temporary folder (autosave, news and update checks off), a
temporary copy of notebook 06 whose figures go to a temporary folder, Chromium from the system
(``apt-get install chromium``; never ``playwright install``). Run All; the widgets must render as controls; then the
model, α, the explained class, the side-by-side view, the method and the layer are changed one after the other, and
after each change the map image must change within 5 s with no error output in the notebook and none in the browser
console. Screenshots go to the temporary folder; ``HM_UPDATE_BROWSER_FIGURE=1`` also refreshes
``figures/explorer_browser.png``.

Skipped with a message when Chromium or Playwright is missing; with ``HM_REQUIRE_BROWSER=1`` (CI) that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hidden_monotonicity.widgets.explorer_model import COMPARISONS, method_label

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "06_interactive_explorer.ipynb"
FIGURE = ROOT / "figures" / "explorer_browser.png"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
REQUIRE = os.environ.get("HM_REQUIRE_BROWSER") == "1"
UPDATE_FIGURE = os.environ.get("HM_UPDATE_BROWSER_FIGURE") == "1"
KERNEL = "hidden-monotonicity"
MAP_CHANGE_SECONDS = 5.0
RUN_ALL_SECONDS = 180.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def unavailable(reason: str) -> None:
    message = f"browser test not run: {reason}"
    if REQUIRE:
        pytest.fail(message + " (HM_REQUIRE_BROWSER=1 makes this a failure)")
    pytest.skip(message + "; install it with `apt-get install -y --no-install-recommends chromium` "
                          "(and `pip install -r requirements.txt`), or set HM_REQUIRE_BROWSER=1 to fail instead")


def chromium_path() -> str:
    found = [path for path in CHROMIUM_CANDIDATES if Path(path).is_file()] or [shutil.which("chromium") or ""]
    if not found[0]:
        unavailable("Chromium is not installed")
    return found[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def temporary_notebook(folder: Path, figures: Path) -> Path:
    """A copy of notebook 06 whose parameters send every figure to ``figures`` (never into figures/ of the repo)."""
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    (cell,) = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    cell["source"] = "".join(cell["source"]) + f"\noutput_dir = {str(figures)!r}  # browser test: a temporary folder\n"
    for c in notebook["cells"]:
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None
    notebook.get("metadata", {}).pop("widgets", None)
    path = folder / NOTEBOOK.name
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return path


def write_settings(settings: Path) -> None:
    """JupyterLab user settings: no autosave, no news, no update checks (offline and quiet)."""
    files = {
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, values in files.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server of this interpreter with its own folders; yields (url, token, work folder, shots folder)."""
    chromium = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the Python package playwright is not installed (it is pinned in requirements.txt)")
    base = tmp_path_factory.mktemp("lab")
    folders = {name: base / name for name in ("config", "data", "runtime", "settings", "workspaces", "work", "figures",
                                               "shots")}
    for folder in folders.values():
        folder.mkdir()
    write_settings(folders["settings"])
    kernel = folders["data"] / "kernels" / KERNEL  # the notebook's kernel name, starting this interpreter
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "hidden-monotonicity (.venv)", "language": "python"}), encoding="utf-8")
    temporary_notebook(folders["work"], folders["figures"])
    port, token = free_port(), secrets.token_hex(16)
    environment = {**os.environ,
                   "JUPYTER_CONFIG_DIR": str(folders["config"]), "JUPYTER_DATA_DIR": str(folders["data"]),
                   "JUPYTER_RUNTIME_DIR": str(folders["runtime"]), "JUPYTERLAB_SETTINGS_DIR": str(folders["settings"]),
                   "JUPYTERLAB_WORKSPACES_DIR": str(folders["workspaces"]),
                   "PYTHONPATH": os.pathsep.join([str(ROOT / "lib"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                   "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={folders['work']}", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate"]
    log = (base / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=folders["work"])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start (see {base / 'jupyterlab.log'}):\n"
                            + (base / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield {"url": url, "token": token, "chromium": chromium, **folders}
    finally:
        server.send_signal(signal.SIGTERM)  # its kernels exit with it
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def map_source(page) -> str:
    images = page.locator(".hm-explorer .widget-output img")
    return images.first.get_attribute("src") if images.count() else ""


def error_outputs(page) -> list[str]:
    """Text of every error or traceback shown in the notebook's outputs."""
    texts = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_text_contents()
    return [text for text in texts if re.search(r"Traceback|Error\b|Exception", text)]


def status_text(page) -> str:
    return page.locator(".hm-explorer .hm-status").first.text_content() or ""


def explorer_control(page, description: str, kind: str = "select"):
    """The control of the explorer whose label reads ``description``."""
    label = page.locator(".hm-explorer label.widget-label", has_text=re.compile(rf"^{re.escape(description)}$"))
    return label.locator("xpath=..").locator(kind).first


def test_the_explorer_works_in_jupyterlab_under_chromium(lab):
    from playwright.sync_api import sync_playwright

    console_errors: list[str] = []
    shots = lab["shots"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=lab["chromium"], args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: console_errors.append(str(error)))
            started = time.monotonic()
            page.goto(f"{lab['url']}/lab/tree/{NOTEBOOK.name}?token={lab['token']}")
            kernel_name = page.locator(".jp-NotebookPanel-toolbar .jp-Toolbar-kernelName")
            kernel_name.first.wait_for(timeout=60_000)
            deadline = time.monotonic() + 60
            while "hidden-monotonicity" not in kernel_name.first.inner_text() and time.monotonic() < deadline:
                time.sleep(0.25)  # "idle" shows before the kernel exists; its name comes with it
            assert "hidden-monotonicity" in kernel_name.first.inner_text(), kernel_name.first.inner_text()

            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
            page.locator(".jp-OutputArea-output", has_text="written:").first.wait_for(timeout=RUN_ALL_SECONDS * 1000)
            page.locator(".hm-explorer .widget-output img").first.wait_for(timeout=30_000)
            page.screenshot(path=str(shots / "00_after_run_all.png"))

            page.locator(".hm-explorer").first.scroll_into_view_if_needed()
            body = page.locator(".jp-Notebook").first.text_content()  # text_content: also cells scrolled out of view
            assert "Loading widget" not in body and "VBox(children=" not in body
            assert page.locator(".hm-explorer select").count() >= 5  # live controls, not their text
            assert page.locator(".hm-self-explaining select").count() == 3
            assert not error_outputs(page), error_outputs(page)
            assert "map current" in status_text(page), status_text(page)

            def change(step: str, act) -> None:
                before = map_source(page)
                act()
                deadline = time.monotonic() + MAP_CHANGE_SECONDS
                while map_source(page) == before and time.monotonic() < deadline:
                    time.sleep(0.05)
                page.screenshot(path=str(shots / f"{step}.png"))
                assert map_source(page) != before, f"{step}: the map did not change within {MAP_CHANGE_SECONDS} s"
                status = status_text(page)
                assert "map current" in status, f"{step}: {status}"
                assert not error_outputs(page), f"{step}: {error_outputs(page)}"
                assert not console_errors, f"{step}: browser console errors {console_errors}"

            change("01_model", lambda: explorer_control(page, "model").select_option(label="benchmark_resnet"))

            def set_alpha() -> None:
                readout = page.locator(".hm-explorer .widget-hslider .widget-readout").first
                readout.click()
                page.keyboard.press("Control+A")
                page.keyboard.type("0.2")
                page.keyboard.press("Enter")

            change("02_alpha", set_alpha)
            change("03_target", lambda: explorer_control(page, "explained class").select_option(index=3))
            change("04_side_by_side", lambda: explorer_control(page, "side by side").select_option(label=COMPARISONS["output"]))
            if UPDATE_FIGURE:
                page.locator(".hm-explorer").first.screenshot(path=str(FIGURE))  # the digits explorer
            change("05_method", lambda: explorer_control(page, "method").select_option(label=method_label("splitlrp")))
            assert explorer_control(page, "layer").input_value() is not None
            change("06_layer", lambda: explorer_control(page, "layer").select_option(index=2))
            elapsed = time.monotonic() - started
        finally:
            browser.close()
    written = sorted(path.name for path in lab["figures"].iterdir())
    assert "explorer_preview.png" in written, written
    print(f"browser test: {elapsed:.0f} s from opening the notebook; screenshots in {shots}")
