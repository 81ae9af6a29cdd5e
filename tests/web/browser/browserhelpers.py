"""What the browser tests share: Chromium with a fake camera, a fresh page of the app, and the
steps a user takes on it. The fixtures that use these are in this folder's conftest.py.

Chromium's fake camera plays a .y4m clip (made here from the astronaut photo), so the webcam
mode sees a real face. Playwright's wait_for_function evaluates its predicate with eval(),
which the page's CSP (rightly) forbids: :func:`wait_until` polls through DevTools instead.
"""

from __future__ import annotations

import base64
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
from webhelpers import astronaut

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_MS = 45_000  # generous: CI boxes are small and the models load on first use
PLAIN_HTTP_HOST = "faceinsight.test"  # a name that is not localhost, mapped to 127.0.0.1
PHONE = {"width": 390, "height": 844}
ROOT = Path(__file__).resolve().parents[3]
# axe-core from the npm registry: `make axe` (or .ci/run) puts it in the ignored .cache/npm.
AXE_PATHS = (ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js",
             ROOT / "node_modules" / "axe-core" / "axe.min.js")


def wait_until(page, expression: str, timeout_s: float = TIMEOUT_MS / 1000):
    """Poll a JavaScript expression until it is truthy; returns its value.

    :param page: the Playwright page.
    :param expression: a JavaScript expression.
    :param timeout_s: give up (and fail) after this many seconds.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """A raw 4:2:0 .y4m clip of RGB frames (Chromium's fake camera loops it).

    :param path: the file to write.
    :param frames: RGB uint8 frames of one even size.
    :param fps: the clip's frame rate.
    """
    height, width = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def letterboxed_astronaut(width: int = 640, height: int = 480) -> np.ndarray:
    """The astronaut photo in the middle of a black frame of width x height (a webcam's frame).

    :param width: frame width (even).
    :param height: frame height (even, at most the width).
    """
    canvas = np.zeros((height, width, 3), np.uint8)
    left = (width - height) // 2
    canvas[:, left:left + height] = cv2.resize(astronaut(), (height, height))
    return canvas


def launch_chromium(playwright_api, camera: Path, extra_args: tuple[str, ...] = ()):
    """Headless Chromium whose camera plays a .y4m clip, granted without asking.

    :param playwright_api: the started Playwright.
    :param camera: the clip (see :func:`write_y4m`).
    :param extra_args: more command-line switches.
    """
    return playwright_api.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera}", *extra_args])


def open_page(browser, server: str, viewport: dict | None = None, color_scheme: str = "light",
              init_script: str | None = None):
    """A fresh context and page (own session) on the app, answering "yes" to its confirmations.

    :param browser: a Playwright browser.
    :param server: the app's URL.
    :param viewport: the window's size (1280 x 800 unless given).
    :param color_scheme: the system theme the page sees.
    :param init_script: JavaScript run in the page before its own (e.g. to wrap fetch).
    :returns: the context (close it) and the page.
    """
    context = browser.new_context(base_url=server, viewport=viewport or {"width": 1280, "height": 800},
                                  color_scheme=color_scheme)
    context.set_default_timeout(TIMEOUT_MS)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/")
    return context, page


def start_camera(page, live: bool = False) -> None:
    """Press "Enable camera" and wait for its picture (and, with live, the first live faces)."""
    page.click("#camera-enable")
    wait_until(page, "document.getElementById('camera-video').videoWidth > 0")
    if live:  # live starts with the camera
        wait_until(page, "Number(document.getElementById('camera-overlay').dataset.faces) > 0")


def take_snapshot(page) -> None:
    """Press "Capture snapshot" and wait for its cards and for the button to come back."""
    page.click("#snapshot")
    page.locator("#snapshot-result .face-card").first.wait_for()
    wait_until(page, "!document.getElementById('snapshot').disabled")


def drop_photos(page, files: list[tuple[str, bytes, str]]) -> None:
    """Drop (name, bytes, type) files on the dropzone as one drag-and-drop."""
    payload = [[base64.b64encode(data).decode(), name, kind] for name, data, kind in files]
    transfer = page.evaluate_handle("""(files) => {
        const dt = new DataTransfer();
        for (const [data, name, kind] of files) {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            dt.items.add(new File([bytes], name, {type: kind}));
        }
        return dt;
    }""", payload)
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


def analyse_video(page, path: Path, fps: str = "2") -> None:
    """Send a video from the Video tab at fps frames a second; wait until a frame is shown."""
    page.click("#tab-video")
    page.set_input_files("#video-input", str(path))
    page.fill("#video-fps", fps)
    page.click("#video-submit")
    wait_until(page, "document.getElementById('video-frame').dataset.frame !== undefined")


def scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def axe_violations(page, source: str) -> list[str]:
    """Run axe-core in the page (injected through DevTools, so the page's CSP stays as it is)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(source)
    return page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(
            v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
    }""")
