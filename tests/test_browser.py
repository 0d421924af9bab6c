"""The JupyterLab experience, in a real browser: every lesson opens, runs, and its controls change the picture.

The sliders exist only in a browser, so nothing else in the suite would notice a slider that
renders as text or moves and redraws nothing. These tests start JupyterLab on 127.0.0.1 (a free
port, no token) over a temporary folder of the lessons, each prepared by papermill
(``prepare_only``) with the small budgets of ``test_notebooks.py``, and drive Debian's Chromium
with Playwright (the ``playwright`` wheel, ``executable_path`` set to the system Chromium: never
``playwright install``, which downloads a browser). At a projector's 1280×720 viewport, per lesson:

- Run All, then wait until the kernel is idle and every code cell has run;
- no error output in any cell, and no error in the browser's console;
- every explorer the lesson's source creates rendered as a widget (none fell back to its text
  repr), with a static figure beside it for reading without a kernel;
- every control of every explorer (slider, selection slider, dropdown, toggle buttons, checkbox)
  is moved: the picture under it changes (its pixels differ) and the control shows the new value;
- nothing is wider than the screen (no horizontal scrolling).

Screenshots of every state go to ``test-artefacts/browser/<lesson>/`` (or ``$GANLESSONS_ARTEFACTS``);
the folder is printed at the end of the run. Without Chromium the tests skip and say how to
enable them; ``.ci/run`` installs it, so CI always runs them.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from test_notebooks import NOTEBOOKS, SMALL, SMALL_BUDGETS

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = Path(os.environ.get("GANLESSONS_ARTEFACTS") or ROOT / "test-artefacts") / "browser"
CHROMIUM = os.environ.get("GANLESSONS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
VIEWPORT = {"width": 1280, "height": 720}  # a projector
# a call that makes an explorer (every one goes through gl.widgets.interactive)
EXPLORER_CALL = re.compile(r"gl\.(?:widgets|evaluation)\.(?:\w+_explorer|interactive)\(")
RUN_SECONDS = 900   # Run All of one small lesson: 20–140 s here when alone, more beside the other worker
REDRAW_SECONDS = 120  # one redraw; lesson 08's measures every metric again (~1 s on a laptop)
# The text repr ipywidgets falls back to when the widget manager is missing, and the manager's own errors.
FALLBACK = re.compile(r"^\s*(?:VBox|HBox|\w+Slider|Dropdown|ToggleButtons|Checkbox|Output)\(|"
                      r"Error displaying widget|Loading widget\.\.\.|A Jupyter widget could not be displayed", re.M)
# Chromium flags for a machine without network (the test's only server is on 127.0.0.1).
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
# JupyterLab's user settings for the test: no news or update check (they go to the internet), and
# every cell kept in the DOM (the default windowing leaves far-away cells unrendered).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _why_not() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright wheel is missing: pip install -e '.[test]'"
    if not CHROMIUM:
        return ("no Chromium: install Debian's (apt-get install chromium) or set GANLESSONS_CHROMIUM to a "
                "Chromium binary; never `playwright install`. .ci/run installs it")
    return None


WHY_NOT = _why_not()
needs_chromium = pytest.mark.skipif(bool(WHY_NOT), reason=f"browser tests skipped: {WHY_NOT}")


def _explorer_cells(nb: Path) -> list[int]:
    """The indices, among the code cells, of the cells that create an explorer (one per call)."""
    cells = [c for c in nbformat.read(str(nb), as_version=4).cells if c.cell_type == "code"]
    return [i for i, c in enumerate(cells) for _ in EXPLORER_CALL.finditer(c.source)]


LESSONS = [nb for nb in NOTEBOOKS if _explorer_cells(nb)]


def test_every_lesson_with_explorers_is_tested_in_the_browser():
    """Written once over all lessons: a new lesson with an explorer is picked up by itself."""
    assert [nb.stem[:2] for nb in LESSONS] == [nb.stem[:2] for nb in NOTEBOOKS], "a lesson without explorers?"


# ----------------------------------------------------------------------------- JupyterLab


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving the lessons prepared with small budgets; yields its base URL."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "lessons"
    root.mkdir()
    (base / "ipc").mkdir()
    for nb in LESSONS:
        declared = pm.inspect_notebook(str(nb))
        params = dict(SMALL, progress=True, out_json=f"{nb.stem}.json")  # progress: the live view a class sees
        params.update({k: v for k, v in SMALL_BUDGETS.items() if k in declared})
        pm.execute_notebook(str(nb), str(root / nb.name), parameters=params, prepare_only=True,
                            kernel_name="python3", progress_bar=False)
    for name, values in LAB_SETTINGS.items():
        path = base / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(base / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               GANLESSONS_LIVE="1")  # prepared notebooks look like papermill's; a class sees the live view
    port = _free_port()
    log = open(base / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={root}", "--ServerApp.disable_check_xsrf=True",
         "--LabApp.extension_manager=readonly",  # it would ask PyPI
         # kernels on Unix sockets in this folder: no TCP port race with the kernels that nbval and
         # papermill start in the other pytest worker (see IPCKernelManager in test_notebooks.py)
         "--KernelManager.transport=ipc", f"--KernelManager.ip={base / 'ipc' / 'kernel'}"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start; its log:\n{(base / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"url": url, "root": root, "log": base / "jupyterlab.log"}
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    args = CHROMIUM_ARGS + (["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield chromium
        chromium.close()


# ----------------------------------------------------------------------------- the page


# The state of Run All: the kernel's status and every code cell's prompt ("[*]:" queued or running,
# "[7]:" done; empty for a cell whose input is hidden, as the exercises' solutions are).
RUN_STATE = """() => {
    const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
    const prompts = cells.map(c => ((c.querySelector('.jp-InputArea-prompt') || {}).textContent || '').trim());
    const kernel = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return {idle: !kernel || kernel.getAttribute('data-status') === 'idle', prompts: prompts};
}"""
KERNEL_IDLE = """() => {
    const k = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return !k || k.getAttribute('data-status') === 'idle';
}"""


def _accept_kernel_dialog(page) -> None:
    """Under load a kernel can start too slowly for JupyterLab, which then asks "Select Kernel" in a modal
    dialog (its default is the notebook's own, Python 3): accept it, as a person would."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count() and dialog.first.is_visible():
        dialog.first.locator(".jp-mod-accept").first.click()
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)


def _run_all(page, lesson: str) -> int:
    """Run → Run All Cells, until the kernel has taken the cells (a prompt shows [*] or a number).

    Returns how many clicks it took. Right after a notebook opens, its kernel can report idle before
    the notebook's session is wired to it; a Run All then queues nothing (JupyterLab drops it
    silently), so the menu is clicked again, as a person would, up to three times."""
    for clicks in (1, 2, 3):
        _accept_kernel_dialog(page)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        for _ in range(15):
            page.wait_for_timeout(1000)
            _accept_kernel_dialog(page)
            if any(p not in ("", "[ ]:") for p in page.evaluate(RUN_STATE)["prompts"]):
                return clicks
    raise AssertionError(f"{lesson}: Run All queued no cell in three tries (15 s each)")


def _wait_run_all(page, lesson: str) -> None:
    """Until every code cell has run once, in order: the last one's prompt is [N] for N code cells.

    Run All queues every cell at once, so an idle kernel with no cell queued and the last cell not
    at [N] for a few seconds means the run stopped (an error: the kernel drops the queue).
    """
    deadline, stopped_since = time.monotonic() + RUN_SECONDS, None
    page.wait_for_timeout(2000)  # the queue is being filled
    while time.monotonic() < deadline:
        state = page.evaluate(RUN_STATE)
        prompts = state["prompts"]
        if state["idle"] and prompts and prompts[-1] == f"[{len(prompts)}]:":
            return
        if state["idle"] and not any("*" in p for p in prompts):
            stopped_since = stopped_since or time.monotonic()
            if time.monotonic() - stopped_since > 10:
                errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                raise AssertionError(f"{lesson}: Run All stopped with prompts {' '.join(prompts)}:\n"
                                     + "\n---\n".join(t[-1500:] for t in errors.all_inner_texts()))
        else:
            stopped_since = None
        page.wait_for_timeout(1000)
    raise AssertionError(f"{lesson}: Run All did not finish in {RUN_SECONDS} s")


STATIC_FIGURE = """el => {
    const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
    const cell = el.closest('.jp-CodeCell'), i = cells.indexOf(cell);
    const images = c => [...c.querySelectorAll('.jp-OutputArea-output img')].filter(img => !img.closest('.gl-explorer'));
    return [i, images(cell).length + (i > 0 ? images(cells[i - 1]).length : 0)];
}"""


class Artefacts:
    """Screenshots of one lesson, numbered in the order taken."""

    def __init__(self, lesson: str):
        self.folder = ARTEFACTS / lesson
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.n = 0

    def shot(self, element, name: str) -> bytes:
        self.n += 1
        path = self.folder / f"{self.n:03d}_{name}.png"
        png = element.screenshot(animations="disabled")
        path.write_bytes(png)
        return png


def _pixels(png: bytes):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _differ(a: bytes, b: bytes) -> bool:
    pa, pb = _pixels(a), _pixels(b)
    return pa.shape != pb.shape or bool((pa != pb).any())


def _picture_html(explorer) -> str:
    return explorer.locator(".gl-picture").first.inner_html()


def _wait_redraw(page, explorer, before_html: str) -> None:
    """Until the picture's output is new and the kernel idle again (the callback has finished)."""
    deadline = time.monotonic() + REDRAW_SECONDS
    while time.monotonic() < deadline:
        if _picture_html(explorer) != before_html and page.evaluate(KERNEL_IDLE):
            page.wait_for_timeout(300)  # the image element's load and layout
            if page.evaluate(KERNEL_IDLE):
                return
        page.wait_for_timeout(200)
    raise AssertionError(f"the picture did not change within {REDRAW_SECONDS} s")


# One way to move each kind of control, and what it shows afterwards. Each returns (label, before, after).


def _move_slider(control):
    """A slider (ipywidgets' noUiSlider): one keyboard step, up unless it is at its maximum."""
    handle = control.locator(".noUi-handle").first
    readout = control.locator(".widget-readout").first
    now, top = (float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemax"))
    key = "ArrowLeft" if now >= top else "ArrowRight"
    before = readout.inner_text().strip()
    handle.focus()
    handle.press(key)
    return key, before, lambda: readout.inner_text().strip(), (now, handle)


def _check_slider_readout(key, before, after, extra):
    now, handle = extra
    moved = float(handle.get_attribute("aria-valuenow"))
    assert (moved > now) if key == "ArrowRight" else (moved < now), f"the handle did not move ({now} → {moved})"
    assert after != before, f"the readout still shows {before!r}"
    try:  # a number slider: the readout moved the same way as the handle
        b, a = float(before), float(after)
    except ValueError:  # a selection slider shows the option's label
        return
    assert (a > b) if key == "ArrowRight" else (a < b), f"readout {before} → {after} after {key}"


def _control_kind(control) -> str:
    classes = control.get_attribute("class") or ""
    for kind in ("widget-slider", "widget-dropdown", "widget-toggle-buttons", "widget-checkbox"):
        if kind in classes:
            return kind
    raise AssertionError(f"a control the browser test does not know how to move: {classes!r}")


def _move(control):
    """Move ``control``; return (what was done, a function that checks what the control shows now)."""
    kind = _control_kind(control)
    if kind == "widget-slider":
        key, before, read, extra = _move_slider(control)
        return f"{key}", lambda: _check_slider_readout(key, before, read(), extra)
    if kind == "widget-dropdown":
        select = control.locator("select").first
        n, now = select.locator("option").count(), select.evaluate("s => s.selectedIndex")
        # ipywidgets shows a Dropdown whose value is None with no option selected: a blank box
        assert now >= 0, "the dropdown shows no option selected (its value is None?)"
        i = (now + 1) % n
        label = select.locator("option").nth(i).inner_text().strip()
        select.select_option(index=i)

        def check():
            shown = select.evaluate("s => s.options[s.selectedIndex].text").strip()
            assert shown == label, f"the dropdown shows {shown!r}, not {label!r}"
        return f"select {label}", check
    if kind == "widget-toggle-buttons":
        buttons = control.locator("button")
        i = next(j for j in range(buttons.count()) if "mod-active" not in (buttons.nth(j).get_attribute("class") or ""))
        target = buttons.nth(i)  # the first button not pressed
        label = target.inner_text().strip()
        target.click()

        def check():
            active = [buttons.nth(j).inner_text().strip() for j in range(buttons.count())
                      if "mod-active" in (buttons.nth(j).get_attribute("class") or "")]
            assert active == [label], f"the active button is {active}, not {label!r}"
        return f"click {label}", check
    box = control.locator("input[type=checkbox]").first
    was = box.is_checked()
    box.click()

    def check():
        assert box.is_checked() != was, "the checkbox did not change"
    return f"{'un' if was else ''}check", check


def _slug(text: str) -> str:
    return re.sub(r"[^\w.+-]+", "_", text).strip("_")[:40] or "control"


# ----------------------------------------------------------------------------- the test


@needs_chromium
@pytest.mark.parametrize("nb", LESSONS, ids=[nb.stem for nb in LESSONS])
def test_lesson_runs_in_jupyterlab_and_every_control_redraws(nb, lab, browser, record_property):
    shots = Artefacts(nb.stem)
    started = time.monotonic()
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    try:
        # ?reset: a fresh workspace, so the lessons opened before this one are not reopened beside it
        page.goto(f"{lab['url']}/lab/tree/{nb.name}?reset", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        page.wait_for_timeout(1000)  # the kernel's first idle comes before the session is wired up
        _accept_kernel_dialog(page)

        t0 = time.monotonic()
        clicks = _run_all(page, nb.stem)
        record_property("run_all_clicks", clicks)
        _wait_run_all(page, nb.stem)
        run_seconds = time.monotonic() - t0
        shots.shot(page, "after_run_all")

        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or re.search(r"^\w*Error\b", t, re.M)]
        assert not tracebacks, f"{nb.stem}: error output:\n" + "\n---\n".join(t[-1500:] for t in tracebacks)
        outputs = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
        fallback = FALLBACK.search(outputs)
        assert fallback is None, f"{nb.stem}: a widget rendered as text: {fallback[0].strip()!r}…"

        expected = _explorer_cells(nb)
        explorers = page.locator(".gl-explorer")
        assert explorers.count() == len(expected), \
            f"{nb.stem}: {explorers.count()} explorers rendered, the source makes {len(expected)}"

        moved = 0
        for e in range(explorers.count()):
            explorer = explorers.nth(e)
            # the static figure: an image in the explorer's cell outside the widget, or in the code cell before
            index, static = explorer.evaluate(STATIC_FIGURE)
            assert static, f"{nb.stem}: explorer {e} (code cell {index}) has no static figure beside it"
            explorer.scroll_into_view_if_needed()
            assert explorer.locator(".gl-picture img").count() >= 1, f"{nb.stem}: explorer {e} drew no picture"
            _assert_fits(page, explorer, f"{nb.stem}: explorer {e}")

            controls = explorer.locator(".gl-control")
            made = int(re.search(r"\bgl-controls-(\d+)\b", explorer.get_attribute("class"))[1])
            assert controls.count() == made >= 1, \
                f"{nb.stem}: explorer {e} shows {controls.count()} of the {made} controls the kernel made"
            for c in range(controls.count()):
                control = controls.nth(c)
                name = _slug(control.locator(".widget-label").first.inner_text()
                             if control.locator(".widget-label").count() else _control_kind(control))
                picture = explorer.locator(".gl-picture").first
                html = _picture_html(explorer)
                before = shots.shot(picture, f"explorer{e}_{name}_before")
                what, check = _move(control)
                _wait_redraw(page, explorer, html)
                after = shots.shot(picture, f"explorer{e}_{name}_after_{_slug(what)}")
                check()
                assert _differ(before, after), f"{nb.stem}: explorer {e}, {name}: {what} left the picture as it was"
                errors_now = picture.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
                text_now = picture.inner_text()
                assert not errors_now and not re.search(r"^\w+Error: ", text_now, re.M), \
                    f"{nb.stem}: explorer {e}, {name}: the redraw failed: {text_now[-800:]}"
                moved += 1
            _assert_fits(page, explorer, f"{nb.stem}: explorer {e} after moving its controls")

        _assert_page_fits(page, nb.stem)
        assert not console, f"{nb.stem}: errors in the browser console:\n" + "\n".join(console[:20])
        record_property("run_all_seconds", round(run_seconds, 1))
        record_property("controls_moved", moved)
        (shots.folder / "summary.json").write_text(json.dumps(
            {"lesson": nb.stem, "run_all_seconds": round(run_seconds, 1), "run_all_clicks": clicks,
             "test_seconds": round(time.monotonic() - started, 1), "explorers": explorers.count(),
             "controls_moved": moved, "viewport": VIEWPORT}, indent=1))
        print(f"{nb.stem}: Run All {run_seconds:.0f} s, {explorers.count()} explorers, {moved} controls moved; "
              f"screenshots in {shots.folder}")
    except Exception:
        shots.shot(page, "failure")
        raise
    finally:
        context.close()
        _shut_down_kernels(lab["url"])


def _shut_down_kernels(url: str) -> None:
    """End every session's kernel, so the next lesson has the cores to itself."""
    with urllib.request.urlopen(f"{url}/api/sessions", timeout=10) as r:
        sessions = json.load(r)
    for session in sessions:
        req = urllib.request.Request(f"{url}/api/sessions/{session['id']}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


def _assert_fits(page, element, what: str) -> None:
    """Nothing inside ``element`` is cut off or scrolls sideways at the projector's width."""
    box = element.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"] + 1, \
        f"{what} does not fit in {VIEWPORT['width']} px: {box}"
    wide = element.evaluate("""el => [el, ...el.querySelectorAll('*')]
        .filter(n => n.scrollWidth > n.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(n).overflowX))
        .map(n => n.className + ' ' + n.scrollWidth + '>' + n.clientWidth)""")
    assert not wide, f"{what} scrolls sideways at {VIEWPORT['width']}×{VIEWPORT['height']}: {wide[:5]}"
    right = element.evaluate("el => Math.max(...[...el.querySelectorAll('img, canvas, .widget-inline-hbox')]"
                             ".map(n => n.getBoundingClientRect().right), 0)")
    assert right <= VIEWPORT["width"] + 1, f"{what}: a figure or control reaches {right:.0f} px of {VIEWPORT['width']}"


def _assert_page_fits(page, lesson: str) -> None:
    wide = page.evaluate("""() => [document.documentElement, ...document.querySelectorAll(
            '.jp-WindowedPanel-outer, .jp-Notebook, .jp-OutputArea')]
        .filter(n => n.scrollWidth > n.clientWidth + 1).map(n => n.className + ' ' + n.scrollWidth + '>' + n.clientWidth)""")
    assert not wide, f"{lesson}: the notebook scrolls sideways at {VIEWPORT['width']}×{VIEWPORT['height']}: {wide[:5]}"
