// Webcam mode: enable the camera, live overlay from downscaled frames, full-resolution snapshots.
// The camera runs only while the Webcam tab is shown and the page is visible: leaving either
// stops its tracks (the camera light goes off) and coming back restarts what was on.
// The preview is a mirror, as in every webcam app, and the frames sent (live and snapshot) are
// mirrored the same way: the server reads what the user sees, so its boxes land on the preview
// as they are and its faces, numbered left to right, are numbered as seen. (The models read a
// face and its mirror image alike: they average both.)
import { $ } from "./dom.js";
import { drawFaces } from "./draw.js";
import { LIVE_CHANGED, LIVE_READINGS, announce } from "./events.js";
import { hideSnapshot, mirroredFrame, takeSnapshot } from "./snapshot.js";
import { FaceTracker } from "./tracking.js";
import { analyzeImage, canvasBlob, clearMessage, el, faceSummary, showMessage } from "./util.js";

const LIVE_MAX_SIDE = 360; // live frames are downscaled: fast to send, enough for the detector
const LIVE_QUALITY = 0.7; // JPEG quality of live frames (about 15 kB at 360 px)
const LIVE_RETRY_MS = 1000; // after a failed live request, wait this long before the next
const NEW_FRAME_WAIT_MS = 150; // send anyway when the browser reports no new camera frame by then
const SMOOTHING_MS = 80; // boxes glide to each answer's position with this time constant
const RATE_WINDOW_MS = 3000; // the live rate shown is measured over this much of the recent past

const state = {
  stream: null, live: false, timer: null,
  wantLive: true, // the Live switch: on unless the user turned it off; live starts with the camera
  starting: false, paused: false, // paused: the camera was stopped by leaving the tab
  // The live loop: one request in flight at most; when its answer arrives the next request
  // takes the newest camera frame (frames in between are never queued, only skipped).
  inFlight: null, // the AbortController of the request in flight
  generation: 0, // bumped when live stops: a late answer of an earlier run is ignored
  countsFrames: false, frameSeq: 0, sentSeq: -1, // camera frames presented, and the one last sent
  waiting: false, // the loop waits for a new camera frame
  tracker: new FaceTracker(), // the faces followed from answer to answer, readings steadied
  faces: [], // the followed faces shown, in reading order (boxes in video pixels, as seen)
  drawn: new Map(), // each followed face's drawn box (by id), gliding to its latest box
  raf: 0, lastDraw: 0, updates: 0,
  answered: [], // when the recent live answers came (performance.now())
};

/** A plain-language reason for a getUserMedia failure. */
export function cameraErrorText(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera access was refused. Allow the camera for this site in the browser's settings, then press “Enable camera” again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Connect one, or use the Photo or Video mode.";
    case "NotReadableError":
    case "AbortError":
      return "The camera is in use by another application or could not be started.";
    default:
      return `The camera could not be started: ${(error && error.message) || error}`;
  }
}

function cameraAvailable() {
  if (!window.isSecureContext) {
    showMessage("The camera needs a secure page: open it over https or at http://localhost.", "warning");
    return false;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showMessage("This browser does not offer camera access. Use the Photo or Video mode.", "warning");
    return false;
  }
  return true;
}

function resetOverlay() {
  const video = $("camera-video");
  const overlay = $("camera-overlay");
  overlay.width = video.videoWidth || 640;
  overlay.height = video.videoHeight || 480;
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  overlay.dataset.faces = "0";
  overlay.dataset.boxes = "[]";
  $("live-faces").replaceChildren();
}

/** Whether the camera may run now: the Webcam tab is shown and the page is visible. */
function inView() {
  return !$("panel-webcam").hidden && document.visibilityState !== "hidden";
}

async function toggleCamera() {
  state.paused = false;
  if (state.stream) stopCamera();
  else await startCamera();
}

async function startCamera() {
  if (state.stream || state.starting || !cameraAvailable()) return false;
  state.starting = true;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: "user" }, audio: false,
    });
  } catch (error) {
    showMessage(cameraErrorText(error), "error");
    return false;
  } finally {
    state.starting = false;
  }
  if (!inView()) { // the user left while the browser was asking: do not run in the background
    for (const track of stream.getTracks()) track.stop();
    state.paused = true;
    return false;
  }
  state.stream = stream;
  clearMessage();
  const video = $("camera-video");
  video.srcObject = state.stream;
  video.addEventListener("loadedmetadata", resetOverlay, { once: true });
  await video.play().catch(() => {});
  $("camera-placeholder").hidden = true;
  $("camera-enable").textContent = "Stop camera";
  $("live-toggle").disabled = false;
  $("snapshot").disabled = false;
  if (state.wantLive) setLive(true); // the overlay starts with the camera
  return true;
}

function stopCamera() {
  if (!state.stream) return;
  setLive(false);
  for (const track of state.stream.getTracks()) track.stop();
  state.stream = null;
  $("camera-video").srcObject = null;
  $("camera-placeholder").hidden = false;
  $("camera-enable").textContent = "Enable camera";
  $("live-toggle").disabled = true; // still showing whether live starts with the camera
  $("snapshot").disabled = true;
  $("live-status").textContent = "";
  resetOverlay();
}

/** Stop following the faces in view: the next answer's faces start afresh. */
function forgetFaces() {
  state.tracker.clear();
  state.faces = [];
  state.drawn.clear();
}

function setLive(on) {
  state.live = on;
  state.generation += 1;
  clearTimeout(state.timer);
  if (state.inFlight) state.inFlight.abort();
  state.inFlight = null;
  cancelAnimationFrame(state.raf);
  state.raf = 0;
  forgetFaces();
  state.waiting = false;
  state.lastDraw = 0;
  if (on) {
    state.updates = 0;
    state.frameSeq = 0;
    state.sentSeq = -1;
    state.answered = [];
    watchFrames($("camera-video"), state.generation);
    sendFrame();
  } else {
    resetOverlay();
    $("live-status").textContent = "";
    $("live-announce").textContent = "";
  }
  announce(LIVE_CHANGED, { on }); // e.g. a recording ends with live
}

/** Count the frames the camera presents (where the browser can say), to send only new ones. */
function watchFrames(video, generation) {
  state.countsFrames = typeof video.requestVideoFrameCallback === "function";
  if (!state.countsFrames) return;
  const onFrame = (now, meta) => {
    if (!state.live || generation !== state.generation) return;
    state.frameSeq = meta.presentedFrames;
    video.requestVideoFrameCallback(onFrame);
    if (state.waiting) sendFrame();
  };
  video.requestVideoFrameCallback(onFrame);
}

/**
 * Send the newest camera frame, unless a request is in flight (its answer sends the next).
 * @param force send even when the browser reported no new frame since the last one sent
 */
async function sendFrame(force = false) {
  if (!state.live || !state.stream || state.inFlight) return;
  const video = $("camera-video");
  const generation = state.generation;
  const fresh = !state.countsFrames || state.frameSeq !== state.sentSeq;
  clearTimeout(state.timer);
  if (video.videoWidth === 0 || !(fresh || force)) {
    // No frame yet, or this one was already sent: wait for the next (or a short while, for a
    // camera that stalls or a video element that reports no frames).
    state.waiting = true;
    state.timer = setTimeout(() => sendFrame(true), NEW_FRAME_WAIT_MS);
    return;
  }
  state.waiting = false;
  const controller = new AbortController();
  state.inFlight = controller;
  state.sentSeq = state.frameSeq;
  let retryMs = 0;
  try {
    const { canvas, scale } = mirroredFrame(video, LIVE_MAX_SIDE);
    const blob = await canvasBlob(canvas, "image/jpeg", LIVE_QUALITY);
    // Live may have been switched off while the frame was encoded: send nothing then.
    if (controller.signal.aborted) return;
    const result = await analyzeImage(blob, "live.jpg", { store: false, signal: controller.signal });
    if (state.live && generation === state.generation) showLive(result.faces, scale);
  } catch (error) {
    if (generation === state.generation && error.name !== "AbortError") {
      $("live-status").textContent = `Live paused: ${error.message}`;
      forgetFaces(); // no stale boxes over a face that may have moved on
      resetOverlay();
      retryMs = LIVE_RETRY_MS;
    }
  } finally {
    if (state.inFlight === controller) state.inFlight = null;
  }
  if (state.live && generation === state.generation) {
    if (retryMs) state.timer = setTimeout(() => sendFrame(true), retryMs);
    else sendFrame();
  }
}

/** Draw the boxes, each moved part of the way to its target (exponential smoothing in time). */
function drawLive(now) {
  state.raf = 0;
  if (!state.live) return;
  const video = $("camera-video");
  const overlay = $("camera-overlay");
  if (video.videoWidth && (overlay.width !== video.videoWidth || overlay.height !== video.videoHeight)) {
    overlay.width = video.videoWidth;
    overlay.height = video.videoHeight;
  }
  const dt = state.lastDraw ? Math.min(now - state.lastDraw, 1000) : 1000;
  state.lastDraw = now;
  const step = 1 - Math.exp(-dt / SMOOTHING_MS);
  let moving = false;
  const drawn = state.faces.map((face) => {
    const from = state.drawn.get(face.id) || face.box;
    const box = from.map((v, k) => {
      const next = v + (face.box[k] - v) * step;
      if (Math.abs(face.box[k] - next) < 0.5) return face.box[k];
      moving = true;
      return next;
    });
    state.drawn.set(face.id, box);
    return { ...face, box };
  });
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  drawFaces(ctx, drawn, 1);
  if (moving) state.raf = requestAnimationFrame(drawLive);
  else state.lastDraw = 0;
}

/** The answers a second over the last few seconds, once there is a second to measure it over
 * (one quick first answer is not 18/s; an average since Live began would hide a recovery). */
function liveRate(now) {
  state.answered.push(now);
  while (now - state.answered[0] > RATE_WINDOW_MS) state.answered.shift();
  const seconds = (now - state.answered[0]) / 1000;
  return seconds >= 1 ? ` · ${((state.answered.length - 1) / seconds).toFixed(1)} frames/s` : "";
}

/**
 * Show an answer: its faces (boxes in the sent frame's pixels) continue the faces followed so
 * far, and each followed face is drawn and listed with its steadied readings, numbered in
 * reading order as seen. A face missed by one answer stays a moment (see FaceTracker).
 */
function showLive(answered, scale) {
  const inVideo = answered.map((face) => ({ ...face, box: face.box.map((v) => v / scale) }));
  const now = performance.now();
  const faces = state.tracker.update(inVideo, now);
  state.faces = faces;
  // The faces this answer read (a face held through a missed answer read nothing new).
  announce(LIVE_READINGS, {
    time: now, sourceFrame: state.countsFrames ? state.sentSeq : null,
    faces: faces.filter((face) => inVideo.includes(face.raw)),
  });
  for (const id of state.drawn.keys()) {
    if (!faces.some((face) => face.id === id)) state.drawn.delete(id);
  }
  state.updates += 1;
  const overlay = $("camera-overlay");
  overlay.dataset.faces = String(faces.length);
  overlay.dataset.updates = String(state.updates); // read by the browser benchmark and tests
  overlay.dataset.boxes = JSON.stringify(faces.map((face) => face.box.map(Math.round))); // read by tests
  if (!state.raf) state.raf = requestAnimationFrame(drawLive);
  const list = $("live-faces");
  list.replaceChildren(...faces.map((face, i) => el("li", null, `${i + 1}: ${faceSummary(face)}`)));
  const rate = liveRate(performance.now());
  // Screen readers hear when the number of faces changes, not every frame's rate.
  const count = faces.length ? `${faces.length} face${faces.length > 1 ? "s" : ""} in view` : "No face in view";
  if ($("live-announce").textContent !== count) $("live-announce").textContent = count;
  $("live-status").textContent = faces.length
    ? `Live: ${faces.length} face${faces.length > 1 ? "s" : ""}${rate}`
    : `Live: no face in view${rate}`;
}

/** Stop the camera because its tab or the page went out of view, remembering what was on. */
function pauseCamera() {
  if (!state.stream) return;
  state.paused = true;
  stopCamera();
  $("live-status").textContent = "Camera paused while you are away from this tab.";
}

/** Restart what pauseCamera stopped, once the tab and the page are back in view. */
async function resumeCamera() {
  if (!state.paused || !inView()) return;
  state.paused = false;
  $("live-status").textContent = "";
  await startCamera(); // live too, unless the user turned it off
}

/** Called when the page's mode tabs change, and on visibility changes. */
export function cameraViewChanged() {
  if (inView()) resumeCamera();
  else pauseCamera();
}

/** The Snapshot button: read the frame the preview shows now. */
function snapshot() {
  const video = $("camera-video");
  if (!state.stream || !video.videoWidth) return;
  takeSnapshot(video, () => Boolean(state.stream));
}

/** Clear session: hide the snapshot and the live cards, and drop a snapshot still on its way. */
export function clearSnapshot() {
  hideSnapshot();
  $("live-faces").replaceChildren();
}

export function initCamera() {
  $("camera-enable").addEventListener("click", toggleCamera);
  document.addEventListener("visibilitychange", cameraViewChanged);
  $("live-toggle").checked = state.wantLive;
  $("live-toggle").addEventListener("change", (event) => {
    state.wantLive = event.target.checked;
    setLive(state.wantLive);
  });
  $("snapshot").addEventListener("click", snapshot);
  if (!window.isSecureContext) {
    $("camera-enable").title = "The camera needs https or localhost";
  }
}
