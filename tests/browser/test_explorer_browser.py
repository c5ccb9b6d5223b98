"""Notebook 06's explorer driven as a user would: JupyterLab under headless Chromium (Playwright), fully offline.

The recipe (issue 16): JupyterLab from this interpreter on 127.0.0.1 with a free port and a token, its own config,
data, runtime, settings and workspaces folders in a temporary folder (autosave, news and update checks off), a
temporary copy of notebook 06 whose figures go to a temporary folder, Chromium from the system
(``apt-get install chromium``; never ``playwright install``). Run All; the widgets must render as controls; then on
the digits explorer the model, α, the explained class (top-5 with probabilities), the side-by-side view (per-panel
scales), the method, the layer, R⁺ vs R⁻ (R⁻ blue), the image (menu and thumbnail) and a class found by name are
changed one after the other; "copy as code" is run here and gives the map "save view" recorded, and "copy to
clipboard" puts that code on the browser's clipboard. On the photo
explorer (Lite0): "computing…" with the old map dimmed before the new map, thumbnails, α, two methods, and an
upload of a PNG written by the test; then, in a window narrowed to 1100 px, neither explorer may scroll sideways or
have a part sticking out. After each change the map image must change (5 s digits, 30 s photos) with no
error output in the notebook and none in the browser console; the median update latencies are printed and asserted
loosely (3x the goals of 1 s and 3 s). Screenshots go to the temporary folder; ``HM_UPDATE_BROWSER_FIGURE=1`` also
refreshes ``figures/explorer_browser.png`` and records the latencies in ``benchmarks/explorer_latency.txt`` (the README
quotes its medians; ``hidden_monotonicity.claims`` checks them).

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
LATENCY_RECORD = ROOT / "benchmarks" / "explorer_latency.txt"
LATENCY_COMMAND = "HM_UPDATE_BROWSER_FIGURE=1 HM_REQUIRE_BROWSER=1 .venv/bin/python -m pytest -q tests/browser"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
REQUIRE = os.environ.get("HM_REQUIRE_BROWSER") == "1"
UPDATE_FIGURE = os.environ.get("HM_UPDATE_BROWSER_FIGURE") == "1"
KERNEL = "hidden-monotonicity"
MAP_CHANGE_SECONDS = 5.0
PHOTO_CHANGE_SECONDS = 30.0
RUN_ALL_SECONDS = 180.0
#: median update latency goals (issue 30), asserted loosely at 3x
DIGITS_GOAL_SECONDS = 1.0
PHOTO_GOAL_SECONDS = 3.0

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
                                               "shots", "tmp")}
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
                   "OMP_NUM_THREADS": "1", "TMPDIR": str(folders["tmp"])}  # the uploaded image lands here, not in /tmp
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


def map_source(page, root: int = 0) -> str:
    images = page.locator(".hm-explorer").nth(root).locator(".widget-output img")
    return images.first.get_attribute("src") if images.count() else ""


def error_outputs(page) -> list[str]:
    """Text of every error or traceback shown in the notebook's outputs."""
    texts = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_text_contents()
    return [text for text in texts if re.search(r"Traceback|Error\b|Exception", text)]


def plain(text: str | None) -> str:
    """Text as read from the page with its non-breaking spaces (the widgets' labels have them) as spaces."""
    return (text or "").replace("\xa0", " ")


def status_text(page, root: int = 0) -> str:
    return plain(page.locator(".hm-explorer").nth(root).locator(".hm-status").first.text_content())


def info_text(page, root: int = 0) -> str:
    return plain(page.locator(".hm-explorer").nth(root).locator(".hm-info").first.text_content())


def option_texts(select) -> list[str]:
    return [plain(text) for text in select.locator("option").all_text_contents()]


def explorer_control(page, description: str, kind: str = "select", root: int = 0):
    """The control of the explorer (the ``root``-th on the page) whose label reads ``description``."""
    label = page.locator(".hm-explorer").nth(root).locator("label.widget-label",
                                                            has_text=re.compile(rf"^{re.escape(description)}$"))
    return label.locator("xpath=..").locator(kind).first


def write_png(path: Path) -> Path:
    """A small PNG of a red disc on grey, written by the test (the upload)."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (120, 90), (128, 128, 128))
    ImageDraw.Draw(picture).ellipse((30, 15, 90, 75), fill=(220, 30, 30))
    picture.save(path)
    return path


def latency_record(latencies: dict[str, list[float]], goals: dict[str, float], command: str = LATENCY_COMMAND) -> str:
    """The text of ``benchmarks/explorer_latency.txt``: the command, then per view (``digits``, ``photos``) the number
    of updates and the median, min and max seconds from a control change to the new map, with the goal (issue 30)."""
    import numpy as np

    lines = [f"$ {command}", "",
             f"JupyterLab under headless Chromium, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} "
             f"(other processes share the cores): seconds from a control change to the new map in the browser "
             f"({time.strftime('%Y-%m-%d')})", "",
             "| view | updates | median s | min s | max s | goal s |", "|---|---|---|---|---|---|"]
    for view, seconds in latencies.items():
        lines.append(f"| {view} | {len(seconds)} | {np.median(seconds):.2f} | {min(seconds):.2f} | {max(seconds):.2f} "
                     f"| {goals[view]:g} |")
    return "\n".join(lines) + "\n"


def test_the_latency_record_is_the_table_the_claims_read(tmp_path):
    """The record's medians are what ``claims.registry._markdown_row_value`` reads back (no browser needed)."""
    from hidden_monotonicity.claims.engine import Outputs
    from hidden_monotonicity.claims.registry import _markdown_row_value

    (tmp_path / "benchmarks").mkdir()
    record = latency_record({"digits": [0.5, 0.25, 0.75], "photos": [2.0, 1.5, 4.0, 3.0]}, {"digits": 1.0, "photos": 3.0})
    (tmp_path / "benchmarks" / "explorer_latency.txt").write_text(record, encoding="utf-8")
    assert record.startswith(f"$ {LATENCY_COMMAND}\n")
    outputs = Outputs(tmp_path)
    read = {(row, column): _markdown_row_value("benchmarks/explorer_latency.txt", row, column).read(outputs)
            for row in ("digits", "photos") for column in (1, 2, 3, 4, 5)}
    assert [read["digits", c] for c in (1, 2, 3, 4, 5)] == [3, 0.5, 0.25, 0.75, 1.0]
    assert [read["photos", c] for c in (1, 2, 3, 4, 5)] == [4, 2.5, 1.5, 4.0, 3.0]


#: the narrower window the layout is checked in (the test runs at 1400 px, then narrows)
NARROW_WIDTH = 1100


def test_the_explorer_works_in_jupyterlab_under_chromium(lab):
    from playwright.sync_api import sync_playwright

    import numpy as np

    console_errors: list[str] = []
    shots = lab["shots"]
    latencies: dict[int, list[float]] = {0: [], 1: []}  # 0: digits explorer, 1: photo explorer
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=lab["chromium"], args=["--no-sandbox"])
        try:
            # the clipboard permissions a user grants when a page first writes to the clipboard
            context = browser.new_context(viewport={"width": 1400, "height": 1100},
                                          permissions=["clipboard-read", "clipboard-write"])
            page = context.new_page()
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
            assert page.locator(".hm-explorer").first.locator("select").count() >= 5  # live controls, not their text
            assert page.locator(".hm-self-explaining select").count() == 3
            assert not error_outputs(page), error_outputs(page)
            assert "map current" in status_text(page), status_text(page)

            def change(step: str, act, root: int = 0, limit: float = MAP_CHANGE_SECONDS) -> None:
                """Do ``act``; the map must change within ``limit`` s, the status must say current, nothing may error.
                The time from the action to the new map goes into ``latencies``."""
                before = map_source(page, root)
                start = time.monotonic()
                act()
                deadline = start + limit
                while map_source(page, root) == before and time.monotonic() < deadline:
                    time.sleep(0.02)
                latencies[root].append(time.monotonic() - start)
                page.screenshot(path=str(shots / f"{step}.png"))
                assert map_source(page, root) != before, f"{step}: the map did not change within {limit} s"
                status = status_text(page, root)
                assert "map current" in status, f"{step}: {status}"
                assert not error_outputs(page), f"{step}: {error_outputs(page)}"
                assert not console_errors, f"{step}: browser console errors {console_errors}"

            # ------------------------------------------------------------------ the digits explorer
            options = option_texts(explorer_control(page, "explained class"))
            assert len(options) == 7 and all("p = " in option for option in options), options  # true, predicted, top 5
            change("01_model", lambda: explorer_control(page, "model").select_option(label="benchmark_resnet"))

            def set_alpha(value: str, root: int = 0) -> None:
                readout = page.locator(".hm-explorer").nth(root).locator(".widget-hslider .widget-readout").first
                readout.click()
                page.keyboard.press("Control+A")
                page.keyboard.type(value)
                page.keyboard.press("Enter")

            change("02_alpha", lambda: set_alpha("0.2"))
            change("03_target", lambda: explorer_control(page, "explained class").select_option(index=3))
            change("04_side_by_side", lambda: explorer_control(page, "side by side").select_option(label=COMPARISONS["output"]))
            assert "each map its own" in info_text(page), info_text(page)  # per-panel scales by default
            if UPDATE_FIGURE:
                page.locator(".hm-explorer").first.screenshot(path=str(FIGURE))  # the digits explorer
            change("05_method", lambda: explorer_control(page, "method").select_option(label=method_label("splitlrp")))
            assert explorer_control(page, "layer").input_value() is not None
            change("06_layer", lambda: explorer_control(page, "layer").select_option(index=2))
            change("07_relevance", lambda: explorer_control(page, "side by side").select_option(label=COMPARISONS["relevance"]))
            assert "R⁻ (evidence against) is drawn blue" in info_text(page), info_text(page)
            change("08_image", lambda: explorer_control(page, "image").select_option(index=5))
            change("09_thumbnail", lambda: page.locator(".hm-explorer").first.locator(".hm-thumb button").nth(7).click())
            find = page.locator(".hm-explorer").first.locator("label.widget-label", has_text=re.compile("^find class$"))
            find_input = find.locator("xpath=..").locator("input").first
            shown = plain(explorer_control(page, "explained class").locator("option:checked").text_content())
            other = next(d for d in "4680" if f"{d} (" not in shown)  # a class other than the one explained now
            change("10_find_class", lambda: (find_input.fill(other), find_input.press("Enter")))
            assert f"explaining {other} " in status_text(page), status_text(page)  # names in the status line

            # copy as code + save: the code, run here, gives the map the explorer saved
            root = page.locator(".hm-explorer").first
            root.locator(".hm-code-button").click()
            code_box = root.locator(".hm-code textarea")
            code_box.wait_for(timeout=10_000)
            deadline = time.monotonic() + 10
            while "hm.explain" not in code_box.input_value() and time.monotonic() < deadline:
                time.sleep(0.1)
            code = code_box.input_value()
            # ... and "copy to clipboard" puts exactly that code on the browser's clipboard
            clipboard_button = root.locator(".hm-clipboard-button")
            clipboard_button.click()
            deadline = time.monotonic() + 10
            while "copied" not in clipboard_button.inner_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert clipboard_button.inner_text() == "copied \u2713", clipboard_button.inner_text()
            assert page.evaluate("navigator.clipboard.readText()") == code
            root.locator(".hm-save-button").click()
            deadline = time.monotonic() + 30
            while not list(lab["figures"].glob("explorer_view_*.json")) and time.monotonic() < deadline:
                time.sleep(0.2)
            (saved,) = list(lab["figures"].glob("explorer_view_*.json"))
            settings = json.loads(saved.read_text(encoding="utf-8"))
            assert settings["code"] == code, (settings["code"], code)
            namespace: dict = {}
            exec(compile(code, "<copied code>", "exec"), namespace)  # noqa: S102 - the code the explorer showed
            assert list(namespace["saliency"].shape) == settings["map"]["shape"]
            assert float(np.asarray(namespace["saliency"], dtype=np.float64).sum()) == pytest.approx(
                settings["map"]["sum"], rel=1e-6, abs=1e-9)
            assert (lab["figures"] / saved.name.replace(".json", ".png")).is_file()

            # ------------------------------------------------------------------ the photo explorer (Lite0)
            photo = page.locator(".hm-explorer").nth(1)
            photo.scroll_into_view_if_needed()
            assert "map current" in status_text(page, 1), status_text(page, 1)
            # "computing…" shows (and the old map stays, dimmed) before the new map
            before = map_source(page, 1)
            start = time.monotonic()
            photo.locator(".hm-thumb button").nth(1).click()
            seen_computing = False
            while map_source(page, 1) == before and time.monotonic() < start + PHOTO_CHANGE_SECONDS:
                if "computing…" in status_text(page, 1):
                    seen_computing = seen_computing or photo.locator(".hm-computing").count() == 1
                time.sleep(0.02)
            latencies[1].append(time.monotonic() - start)
            assert seen_computing, "the status never read 'computing…' with the map dimmed before the new map"
            assert "map current" in status_text(page, 1)
            photo_options = option_texts(explorer_control(page, "explained class", root=1))
            assert len(photo_options) >= 6 and all("p = " in option for option in photo_options), photo_options
            change("11_photo_image", lambda: photo.locator(".hm-thumb button").nth(0).click(), 1, PHOTO_CHANGE_SECONDS)
            change("12_photo_alpha", lambda: set_alpha("0.3", 1), 1, PHOTO_CHANGE_SECONDS)
            change("13_photo_two_methods", lambda: explorer_control(page, "side by side", root=1).select_option(
                label=COMPARISONS["method"]), 1, PHOTO_CHANGE_SECONDS)
            assert "each map its own" in info_text(page, 1), info_text(page, 1)
            change("14_photo_image", lambda: photo.locator(".hm-thumb button").nth(1).click(), 1, PHOTO_CHANGE_SECONDS)
            upload = write_png(lab["shots"] / "upload.png")

            def choose_file() -> None:  # the upload button opens the browser's file chooser (its input is not in the DOM)
                with page.expect_file_chooser() as chooser:
                    photo.locator(".widget-upload").first.click()
                chooser.value.set_files(str(upload))

            change("15_photo_upload", choose_file, 1, PHOTO_CHANGE_SECONDS)
            assert "yours (upload.png)" in plain(explorer_control(page, "image", root=1).locator("option:checked").text_content())
            assert "no object mask" in info_text(page, 1) or "no scores" in info_text(page, 1)

            # a narrower window (1100 px, a laptop with the file browser open): the controls wrap, nothing sticks out
            page.set_viewport_size({"width": NARROW_WIDTH, "height": 900})
            time.sleep(1.0)  # JupyterLab lays the panels out again
            for index in (0, 1):
                explorer = page.locator(".hm-explorer").nth(index)
                explorer.scroll_into_view_if_needed()
                widths = explorer.evaluate(
                    "e => ({scroll: e.scrollWidth, client: e.clientWidth, right: e.getBoundingClientRect().right,"
                    " widest: Math.max(...Array.from(e.querySelectorAll('*')).map(c => c.getBoundingClientRect().right)),"
                    " page: document.documentElement.clientWidth})")
                print(f"explorer {index} at {NARROW_WIDTH} px: {widths}")
                assert widths["scroll"] <= widths["client"] + 1, f"explorer {index} scrolls sideways at {NARROW_WIDTH} px: {widths}"
                assert widths["widest"] <= widths["right"] + 1, f"explorer {index}: a part sticks out at {NARROW_WIDTH} px: {widths}"
                assert widths["right"] <= widths["page"], f"explorer {index} is wider than the window: {widths}"
                explorer.screenshot(path=str(shots / f"16_narrow_{NARROW_WIDTH}px_explorer{index}.png"))
            elapsed = time.monotonic() - started
        finally:
            browser.close()
    written = sorted(path.name for path in lab["figures"].iterdir())
    assert "explorer_preview.png" in written, written
    digits, photos = (float(np.median(latencies[k])) for k in (0, 1))
    print(f"browser test: {elapsed:.0f} s from opening the notebook; screenshots in {shots}")
    print(f"median update latency in the browser: digits {digits:.2f} s ({len(latencies[0])} updates: "
          f"{', '.join(f'{t:.2f}' for t in latencies[0])}), photos {photos:.2f} s ({len(latencies[1])} updates: "
          f"{', '.join(f'{t:.2f}' for t in latencies[1])})")
    if UPDATE_FIGURE:
        LATENCY_RECORD.write_text(latency_record({"digits": latencies[0], "photos": latencies[1]},
                                                 {"digits": DIGITS_GOAL_SECONDS, "photos": PHOTO_GOAL_SECONDS}),
                                  encoding="utf-8")
    # goals: digits <= 1 s, photos <= 3 s median; asserted loosely (3x), as shared machines are noisy
    assert digits <= 3 * DIGITS_GOAL_SECONDS, f"digits explorer: median update {digits:.2f} s > 3 x {DIGITS_GOAL_SECONDS} s"
    assert photos <= 3 * PHOTO_GOAL_SECONDS, f"photo explorer: median update {photos:.2f} s > 3 x {PHOTO_GOAL_SECONDS} s"
