"""Drive a real JupyterLab in headless Chromium: the harness every widget test reuses.

What it does, end to end:
  1. `lab_server` (pytest fixture) copies course/ into a temporary folder and starts
     `jupyter-lab` on 127.0.0.1 with no token, its own config/runtime/settings folders and a
     fresh workspace, so nothing on this machine (saved layouts, user settings) leaks in and the
     committed notebooks are never modified.
  2. `chromium` / `page` (pytest fixtures) launch Debian's /usr/bin/chromium through Playwright
     (never a downloaded browser) and give each test a fresh browser context.
  3. Helpers open a notebook, run all cells through the "Run" menu, find a course widget by its
     CSS class, change its controls like a user would, and read the picture it redraws.

Course widget convention (see COURSE_DESIGN.md section 7): a widget is an ipywidgets.VBox with
CSS classes `ar-widget` and `ar-widget-<name>`, holding standard controls with `description`s
and an ipywidgets.Output in which a matplotlib figure is redrawn as an <img> on every change.

Typical test:

    from browser import lab_server, chromium, page  # noqa: F401  (pytest fixtures)
    from browser import open_notebook, run_all_cells, widget, nudge_slider, wait_for_image
    from browser import wait_for_new_image, screenshot

    @pytest.mark.browser
    def test_my_widget(lab_server, page, tmp_path):
        open_notebook(page, lab_server, "03_made.ipynb")
        run_all_cells(page)
        box = widget(page, "ar-widget-made")
        before = wait_for_image(box)
        nudge_slider(box, description="hidden")
        wait_for_new_image(box, before)
        screenshot(page, tmp_path, "made")

Only loopback traffic: the server binds 127.0.0.1, news and update checks are switched off and
Chromium runs with background networking disabled.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
COURSE_DIR = REPO_ROOT / "course"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}

SERVER_START_TIMEOUT_S = 60   # first start compiles nothing, but the machine may be busy
NOTEBOOK_OPEN_TIMEOUT_S = 60  # JupyterLab's first page load takes ~10-20 s
RUN_ALL_TIMEOUT_S = 120       # whole notebook, kernel start included
WIDGET_TIMEOUT_S = 30         # a widget view to appear / a picture to be redrawn

# JupyterLab user settings written for every server (JSON, read as JSON5 by JupyterLab).
LAB_USER_SETTINGS = {
    # Keep every cell in the DOM, so prompts and widgets below the fold can be inspected.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # No news feed, no update check (both would reach for the internet), no toasts on top.
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True,
    },
}


# --------------------------------------------------------------------------------------------
# Availability
# --------------------------------------------------------------------------------------------

def skip_unless_browser_available():
    """pytest.skip with the fix when Chromium or Playwright is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium not installed: apt-get install chromium chromium-driver")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright not installed: pip install playwright "
                    "(the tests use Debian's chromium, no `playwright install` needed)")
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("jupyter-lab not found next to this Python: pip install jupyterlab")


# --------------------------------------------------------------------------------------------
# The JupyterLab server
# --------------------------------------------------------------------------------------------

@dataclass
class LabServer:
    """A running jupyter-lab: `url` (no trailing slash), `root` (its folder), `pid`, `log`."""
    url: str
    root: Path
    pid: int
    log: Path
    process: subprocess.Popen

    def log_tail(self, n_chars=3000):
        return self.log.read_text(errors="replace")[-n_chars:] if self.log.exists() else ""


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(destination):
    """Copy course/ (notebooks and whatever they read) into `destination`; returns it."""
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    if COURSE_DIR.exists():
        shutil.copytree(COURSE_DIR, destination, ignore=ignore, dirs_exist_ok=True)
    else:
        Path(destination).mkdir(parents=True, exist_ok=True)
    return Path(destination)


def write_lab_settings(settings_dir):
    """Write LAB_USER_SETTINGS as JupyterLab user-settings files under `settings_dir`."""
    for plugin, values in LAB_USER_SETTINGS.items():
        path = Path(settings_dir) / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


def start_lab(root, state_dir, timeout_s=SERVER_START_TIMEOUT_S):
    """Start jupyter-lab serving `root`, keeping all its state under `state_dir`; wait until ready.

    The kernelspec and the ipywidgets lab extension are still found: they live under
    sys.prefix/share/jupyter, which stays on Jupyter's data path whatever JUPYTER_DATA_DIR says.
    """
    state_dir = Path(state_dir)
    config_dir, data_dir, runtime_dir = (state_dir / d for d in ("config", "data", "runtime"))
    settings_dir, workspaces_dir = state_dir / "user-settings", state_dir / "workspaces"
    for d in (config_dir, data_dir, runtime_dir, settings_dir, workspaces_dir):
        d.mkdir(parents=True, exist_ok=True)
    write_lab_settings(settings_dir)

    env = dict(os.environ)
    env.update(JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_DATA_DIR=str(data_dir),
               JUPYTER_RUNTIME_DIR=str(runtime_dir), IPYTHONDIR=str(state_dir / "ipython"),
               MPLCONFIGDIR=str(state_dir / "matplotlib"))
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_TOKEN", None)

    port = free_port()
    command = [
        str(Path(sys.executable).parent / "jupyter-lab"),
        "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={workspaces_dir}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = state_dir / "jupyter-lab.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log_file, stderr=subprocess.STDOUT)
    server = LabServer(f"http://127.0.0.1:{port}", Path(root), process.pid, log, process)
    try:
        wait_until_ready(server, timeout_s)
    except BaseException:
        stop_lab(server)
        raise
    return server


def wait_until_ready(server, timeout_s):
    """Poll GET /api/status until it answers 200; fail with the server log after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter-lab exited with code {server.process.returncode}:\n"
                               f"{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/status", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"jupyter-lab not ready after {timeout_s} s:\n{server.log_tail()}")


def stop_lab(server, grace_s=10):
    """Stop the server by its PID: SIGTERM (it shuts its kernels down), then SIGKILL."""
    process = server.process
    if process.poll() is not None:
        return
    os.kill(server.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.kill(server.pid, signal.SIGKILL)
        process.wait(timeout=grace_s)


# --------------------------------------------------------------------------------------------
# Fixtures (import them into a test module: `from browser import lab_server, chromium, page`)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """A JupyterLab serving a temporary copy of course/ (module scoped: one start per file)."""
    skip_unless_browser_available()
    root = copy_course(tmp_path_factory.mktemp("lab-root"))
    server = start_lab(root, tmp_path_factory.mktemp("lab-state"))
    yield server
    stop_lab(server)


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless Chromium driven by Playwright (module scoped)."""
    skip_unless_browser_available()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, lab_server):
    """A fresh browser context (no cookies, no storage) and one page in it.

    On teardown the context is closed and the server's kernels are shut down.
    """
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WIDGET_TIMEOUT_S * 1000)
    page = context.new_page()
    yield page
    context.close()
    shutdown_kernels(lab_server)


# --------------------------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------------------------

def open_notebook(page, server, relpath, timeout_s=NOTEBOOK_OPEN_TIMEOUT_S):
    """Open `relpath` (relative to server.root) in JupyterLab and wait for its kernel to be idle."""
    if not (server.root / relpath).exists():
        raise FileNotFoundError(f"{relpath} is not in the lab root {server.root}")
    # "?reset" starts from an empty workspace: no notebook left open by an earlier test.
    page.goto(f"{server.url}/lab/tree/{relpath}?reset", timeout=timeout_s * 1000)
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.wait_for(state="visible", timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    while not (session_kernel_ready(server, relpath) and kernel_status(page) == "idle"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"kernel for {relpath} not idle after {timeout_s} s "
                               f"(page says {kernel_status(page)!r}):\n{server.log_tail()}")
        accept_kernel_dialog(page)
        page.wait_for_timeout(200)
    return panel


def api_get(server, path):
    """GET server.url + path and decode the JSON reply."""
    with urllib.request.urlopen(f"{server.url}{path}", timeout=5) as reply:
        return json.loads(reply.read())


def session_kernel_ready(server, relpath):
    """True once the server has an idle kernel for `relpath` with a browser connected to it.

    The page's own indicator says "idle" for a moment before the kernel even connects, so the
    server's view of the session is what tells that the kernel really is up.
    """
    for session in api_get(server, "/api/sessions"):
        kernel = session.get("kernel") or {}
        if (session.get("path") == str(relpath) and kernel.get("execution_state") == "idle"
                and kernel.get("connections", 0) > 0):
            return True
    return False


def shutdown_kernels(server):
    """Shut down every kernel the server runs (frees the CPU between tests)."""
    for kernel in api_get(server, "/api/kernels"):
        request = urllib.request.Request(f"{server.url}/api/kernels/{kernel['id']}",
                                         method="DELETE")
        with urllib.request.urlopen(request, timeout=10):
            pass


def accept_kernel_dialog(page):
    """Accept the "Select Kernel" dialog if one is open (notebooks without a kernelspec)."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and dialog.first.is_visible():
        dialog.first.locator(".jp-mod-accept").click()


def kernel_status(page):
    """The notebook's kernel status as JupyterLab shows it: 'idle', 'busy', 'connecting', ..."""
    indicator = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                             ".jp-Notebook-ExecutionIndicator")
    return indicator.first.get_attribute("data-status") if indicator.count() else None


def wait_until_idle(page, timeout_s=WIDGET_TIMEOUT_S):
    """Wait until the open notebook's kernel shows idle again (e.g. after a widget redraw)."""
    deadline = time.monotonic() + timeout_s
    while kernel_status(page) != "idle":
        if time.monotonic() > deadline:
            raise TimeoutError(f"kernel still {kernel_status(page)!r} after {timeout_s} s")
        page.wait_for_timeout(100)


def click_menu(page, menu, item):
    """Click `menu` in JupyterLab's menu bar, then the entry labelled exactly `item`."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
    label = page.locator(".lm-Menu:visible .lm-Menu-itemLabel",
                         has_text=re.compile(f"^{re.escape(item)}$"))
    label.click()


def cell_prompts(page):
    """Execution prompts of the open notebook's code cells: '[1]:', '[*]:', '[ ]:' ..."""
    prompts = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                           ".jp-CodeCell .jp-InputArea-prompt")
    return [text.strip() for text in prompts.all_inner_texts()]


def error_outputs(page):
    """Text of the error outputs (tracebacks) in the open notebook."""
    errors = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output"
                          "[data-mime-type='application/vnd.jupyter.stderr']")
    return [text for text in errors.all_inner_texts() if "Traceback" in text or "Error" in text]


def run_all_cells(page, timeout_s=RUN_ALL_TIMEOUT_S):
    """Clear all outputs, Run > Run All Cells, and wait until every code cell has run.

    Clearing first resets the prompts to [ ], so a saved notebook's old execution counts can't
    pass for a finished run. Fails with the tracebacks when a cell raised (JupyterLab stops
    running at the error) and with the prompts on timeout. Returns the seconds it took.
    """
    start = time.monotonic()
    click_menu(page, "Edit", "Clear Outputs of All Cells")
    click_menu(page, "Run", "Run All Cells")
    while True:
        prompts = cell_prompts(page)
        running = kernel_status(page) != "idle" or any("*" in p for p in prompts)
        if not running and all(re.search(r"\d", p) for p in prompts):
            return time.monotonic() - start
        if not running and error_outputs(page):
            not_run = [i for i, p in enumerate(prompts) if not re.search(r"\d", p)]
            raise AssertionError(f"code cells {not_run} did not run; errors:\n"
                                 + "\n".join(error_outputs(page)))
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"notebook not done after {timeout_s} s; prompts: {prompts}")
        page.wait_for_timeout(250)


# --------------------------------------------------------------------------------------------
# Widgets
# --------------------------------------------------------------------------------------------

def widget(page, css_class, timeout_s=WIDGET_TIMEOUT_S):
    """The rendered widget box with CSS class `css_class` (e.g. 'ar-widget-histogram')."""
    box = page.locator(f".jp-NotebookPanel:not(.lm-mod-hidden) .{css_class}").first
    box.wait_for(state="visible", timeout=timeout_s * 1000)
    box.scroll_into_view_if_needed()
    return box


def control(box, kind, description=None):
    """The `kind` control ('slider', 'dropdown', 'toggle-buttons', 'text', ...) in `box`.

    With a `description`, the one whose label contains it; otherwise the first one.
    `kind` is the ipywidgets class suffix: IntSlider -> 'slider', ToggleButtons ->
    'toggle-buttons', Dropdown -> 'dropdown', Text -> 'text', Checkbox -> 'checkbox'.
    """
    controls = box.locator(f".widget-{kind}")
    if description is not None:
        controls = controls.filter(has=box.page.locator(".widget-label", has_text=description))
    return controls.first


def slider_value(box, description=None):
    """The number shown in the slider's readout, as text (e.g. '3')."""
    readout = control(box, "slider", description).locator(".widget-readout")
    return readout.inner_text().strip()


def nudge_slider(box, description=None):
    """Move the slider one step (right, or left when it sits at its maximum).

    Returns (value before, value after) as shown in the readout.
    """
    handle = control(box, "slider", description).locator(".noUi-handle")
    at_max = float(handle.get_attribute("aria-valuenow")) >= float(
        handle.get_attribute("aria-valuemax"))
    before = slider_value(box, description)
    press_slider(box, "ArrowLeft" if at_max else "ArrowRight", description=description)
    return before, slider_value(box, description)


def press_slider(box, key="ArrowRight", times=1, description=None):
    """Focus the slider's handle and press `key` (ArrowRight/ArrowLeft/Home/End) `times` times."""
    handle = control(box, "slider", description).locator(".noUi-handle")
    handle.focus()
    for _ in range(times):
        handle.press(key)


def set_slider(box, value, description=None):
    """Type `value` into the slider's readout and press Enter, as a user would."""
    readout = control(box, "slider", description).locator(".widget-readout")
    readout.click()
    readout.press("Control+A")
    readout.press_sequentially(str(value))
    readout.press("Enter")


def set_dropdown(box, label, description=None):
    """Choose the option labelled `label` in a Dropdown."""
    control(box, "dropdown", description).locator("select").select_option(label=label)


def set_toggle_buttons(box, label, description=None):
    """Click the button labelled `label` in a ToggleButtons."""
    buttons = control(box, "toggle-buttons", description).locator("button")
    buttons.filter(has_text=re.compile(f"^\\s*{re.escape(label)}\\s*$")).first.click()


def click_button(box, label):
    """Click the Button whose description is `label`."""
    box.locator("button.widget-button", has_text=label).first.click()


def set_text(box, text, description=None):
    """Replace the contents of a Text box and press Enter."""
    field = control(box, "text", description).locator("input")
    field.fill(str(text))
    field.press("Enter")


def widget_errors(page):
    """Messages ipywidgets shows in place of views it failed to render."""
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    return [line for line in panel.inner_text().splitlines()
            if "Error displaying widget" in line or "Failed to load model class" in line]


def output_image_src(box, index=0):
    """The `src` of the <img> that the widget's Output shows (a data: URL), or None."""
    images = box.locator(".widget-output img")
    return images.nth(index).get_attribute("src") if images.count() > index else None


def wait_for_image(box, timeout_s=WIDGET_TIMEOUT_S):
    """Wait until the widget's Output shows a picture; returns its src."""
    return wait_for_new_image(box, None, timeout_s)


def wait_for_new_image(box, old_src, timeout_s=WIDGET_TIMEOUT_S):
    """Wait until the Output shows a picture whose src differs from `old_src`; returns it."""
    deadline = time.monotonic() + timeout_s
    while True:
        src = output_image_src(box)
        if src is not None and src != old_src:
            return src
        if time.monotonic() > deadline:
            raise TimeoutError(f"widget picture did not change within {timeout_s} s")
        box.page.wait_for_timeout(100)


def screenshot(page, directory, name, locator=None):
    """Save a PNG of the page (or of `locator` only) as directory/name.png; returns the path."""
    path = Path(directory) / f"{name}.png"
    (locator or page).screenshot(path=str(path))
    return path
