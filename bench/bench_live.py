"""Live overlay updates per second in headless Chromium, against the current release's camera.js.

Starts gunicorn (the Procfile's command, as ``bench_api.py`` does) unless ``--url`` points at a
running server, feeds Chromium's fake camera a clip of scikit-image's astronaut drifting across a
640x480 frame, turns on the Webcam tab's live overlay and counts the answers the overlay receives
(responses of ``POST /api/v1/analyze``) over a window. Then the same with the release's
``static/js/camera.js`` (``--release``, a git ref) served in place of today's. Prints a table;
not a test: the figures depend on the machine (and on what else runs on it).

    python -m bench.bench_live                      # 10 s each, today's page and the release's
    python -m bench.bench_live --seconds 20 --release none
    python -m bench.bench_live --chromium chromium-browser --url http://127.0.0.1:8000

Needs Playwright's Python package and a Chromium (``--chromium``, default: ``chromium`` on PATH).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench.bench_api import start_gunicorn, stop_gunicorn, wait_ready
from tests.web.live_server import ROOT

RELEASE = "0e5160e"  # the release the issue compares with
CAMERA_JS = "static/js/camera.js"
ANALYZE = "/api/v1/analyze"
TIMEOUT_S = 60.0


def write_clip(path: Path, seconds: float = 4.0, fps: int = 30, width: int = 640, height: int = 480) -> Path:
    """A raw 4:2:0 .y4m clip of the astronaut (480 px tall) drifting left and right (Chromium loops it).

    :param path: the file to write.
    :param seconds: its length.
    :param fps: its frame rate (the fake camera plays it at this rate).
    :param width: frame width (even).
    :param height: frame height (even).
    """
    from skimage import data

    side = min(width, height)
    face = cv2.resize(data.astronaut(), (side, side))
    travel = width - side
    frames = max(2, int(seconds * fps))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            phase = i / frames * 2 * np.pi
            left = int(round(travel / 2 * (1 - np.cos(phase))))  # there and back: a seamless loop
            canvas = np.zeros((height, width, 3), np.uint8)
            canvas[:, left:left + side] = face
            out.write(b"FRAME\n" + cv2.cvtColor(canvas, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def release_camera_js(ref: str) -> str:
    """The release's camera.js, plus stubs for what today's main.js imports that it lacks."""
    source = subprocess.run(["git", "show", f"{ref}:{CAMERA_JS}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    if "export function cameraViewChanged" not in source:
        source += "\nexport function cameraViewChanged() {}\n"
    return source


def wait_until(page, expression: str, timeout_s: float = TIMEOUT_S):
    """Poll a JavaScript expression until it is truthy (the page's CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + timeout_s
    while not (value := page.evaluate(expression)):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {expression}")
        time.sleep(0.1)
    return value


def measure(browser, url: str, seconds: float, camera_js: str | None) -> dict:
    """Updates per second of one page over ``seconds``, after the first answer arrived.

    :param browser: a Playwright browser.
    :param url: the server.
    :param seconds: the measuring window.
    :param camera_js: JavaScript served as camera.js instead of the server's, or None.
    :returns: updates/s, the most requests in flight at once, frame widths and JPEG sizes, latencies.
    """
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_S * 1000)
    page = context.new_page()
    if camera_js is not None:
        page.route(f"**/{CAMERA_JS}", lambda route: route.fulfill(
            status=200, content_type="text/javascript", body=camera_js))
    events: list[tuple[float, str, object]] = []  # (time, "start" | "end", request)

    def on_start(request):
        if request.url.endswith(ANALYZE):
            events.append((time.perf_counter(), "start", request))

    def on_end(request):
        if request.url.endswith(ANALYZE):
            events.append((time.perf_counter(), "end", request))

    # The JPEG sizes the page sends (DevTools does not always see a FormData body).
    page.add_init_script("""(() => {
        const send = window.fetch.bind(window);
        window.__liveBytes = [];
        window.fetch = (url, options) => {
            const file = options && options.body instanceof FormData ? options.body.get("file") : null;
            if (String(url).endsWith("/analyze") && file) window.__liveBytes.push(file.size);
            return send(url, options);
        };
    })()""")
    page.on("request", on_start)
    page.on("requestfinished", on_end)
    page.on("requestfailed", on_end)
    page.goto("/")
    if page.locator("#tab-webcam").count():
        page.click("#tab-webcam")
    page.click("#camera-enable")
    wait_until(page, "document.getElementById('camera-video').videoWidth > 0")
    page.check("#live-toggle")  # already on with the camera today; an older release needs it
    wait_until(page, "Number(document.getElementById('camera-overlay').dataset.faces) > 0")
    window_start = time.perf_counter()
    deadline = window_start + seconds
    while time.perf_counter() < deadline:
        page.wait_for_timeout(100)  # lets Playwright deliver the page's events meanwhile
    window_end = time.perf_counter()
    faces = page.evaluate("Number(document.getElementById('camera-overlay').dataset.faces)")
    sizes = page.evaluate("window.__liveBytes")
    page.uncheck("#live-toggle")
    page.wait_for_timeout(300)
    ended = [(t, request) for t, kind, request in events if kind == "end" and window_start <= t < window_end]
    answered = [request for _, request in ended if request.failure is None]
    in_flight = most = 0
    started_at: dict[int, float] = {}
    latencies = []
    for t, kind, request in events:
        in_flight += 1 if kind == "start" else -1
        most = max(most, in_flight)
        if kind == "start":
            started_at[id(request)] = t
        elif id(request) in started_at:
            latencies.append((t - started_at[id(request)]) * 1000)
    widths = []
    for request in answered[:20]:
        response = request.response()
        if response is not None and response.ok:
            widths.append(response.json()["image"]["width"])
    context.close()
    return {"updates_s": len(answered) / (window_end - window_start), "answers": len(answered),
            "most_in_flight": most, "faces": faces,
            "body_kb": statistics.median(sizes) / 1024 if sizes else 0.0,
            "frame_width": max(widths) if widths else 0,
            "latency_ms": statistics.median(latencies) if latencies else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: start gunicorn on loopback)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window per page")
    parser.add_argument("--release", default=RELEASE,
                        help="git ref whose camera.js is the baseline ('none' to skip)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads (GUNICORN_THREADS)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"),
                        help="the Chromium binary")
    args = parser.parse_args(argv)
    if not args.chromium:
        raise SystemExit("no chromium found: pass --chromium")
    from playwright.sync_api import sync_playwright

    pages = [("today", None)]
    if args.release.lower() != "none":
        pages.append((f"release {args.release}", release_camera_js(args.release)))
    with tempfile.TemporaryDirectory(prefix="faceinsight-bench-live-") as folder:
        folder = Path(folder)
        clip = write_clip(folder / "astronaut.y4m")
        process = None
        url = args.url
        if url is None:
            process, url = start_gunicorn(args.workers, args.threads, folder, output=subprocess.DEVNULL)
        try:
            wait_ready(url, process=process)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={clip}"])
                try:
                    results = [(name, measure(browser, url, args.seconds, js)) for name, js in pages]
                finally:
                    browser.close()
        finally:
            if process is not None:
                stop_gunicorn(process)
    print(f"fake camera: 640x480 at 30 frames/s, one face; {args.seconds:g} s per page; "
          f"server {'at ' + args.url if args.url else f'gunicorn {args.workers}x{args.threads}'}")
    print(f"{'page':<18} {'updates/s':>9} {'answers':>8} {'max in flight':>13} {'frame px':>9} "
          f"{'JPEG kB':>8} {'latency ms':>11}")
    for name, row in results:
        print(f"{name:<18} {row['updates_s']:>9.1f} {row['answers']:>8} {row['most_in_flight']:>13} "
              f"{row['frame_width']:>9} {row['body_kb']:>8.1f} {row['latency_ms']:>11.1f}")
    if len(results) == 2 and results[1][1]["updates_s"] > 0:
        print(f"ratio today / release: {results[0][1]['updates_s'] / results[1][1]['updates_s']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
