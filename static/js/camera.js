// Webcam mode: enable the camera, live overlay from downscaled frames, full-resolution snapshots.
// The camera runs only while the Webcam tab is shown and the page is visible: leaving either
// stops its tracks (the camera light goes off) and coming back restarts what was on.
import { drawFaces } from "./draw.js";
import { renderCards } from "./cards.js";
import { addEntry } from "./log.js";
import {
  analyzeImage, canvasBlob, clearMessage, el, faceSummary, scaledCanvas, showMessage, thumbnail,
} from "./util.js";

const LIVE_MAX_SIDE = 360; // live frames are downscaled: fast to send, enough for the detector
const LIVE_INTERVAL_MS = 250; // at most about four live requests a second

const state = {
  stream: null, live: false, busy: false, timer: null, sent: 0, started: 0,
  starting: false, paused: null, // paused: {live} when the camera was stopped by leaving the tab
};

function $(id) {
  return document.getElementById(id);
}

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
  $("live-faces").replaceChildren();
}

/** Whether the camera may run now: the Webcam tab is shown and the page is visible. */
function inView() {
  return !$("panel-webcam").hidden && document.visibilityState !== "hidden";
}

async function toggleCamera() {
  state.paused = null;
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
    state.paused = { live: false };
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
  $("live-toggle").checked = false;
  $("live-toggle").disabled = true;
  $("snapshot").disabled = true;
  $("live-status").textContent = "";
  resetOverlay();
}

function setLive(on) {
  state.live = on;
  clearTimeout(state.timer);
  if (on) {
    state.sent = 0;
    state.started = performance.now();
    liveTick();
  } else {
    resetOverlay();
    $("live-status").textContent = "";
    $("live-announce").textContent = "";
  }
}

function showLive(faces, scale) {
  const video = $("camera-video");
  const overlay = $("camera-overlay");
  if (overlay.width !== video.videoWidth || overlay.height !== video.videoHeight) resetOverlay();
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  drawFaces(ctx, faces, 1 / scale, { mirror: true });
  overlay.dataset.faces = String(faces.length);
  const list = $("live-faces");
  list.replaceChildren(...faces.map((face, i) => el("li", null, `${i + 1}: ${faceSummary(face)}`)));
  const seconds = (performance.now() - state.started) / 1000;
  // The rate once there is a second to measure it over (one quick first answer is not 18/s).
  const rate = seconds >= 1 ? ` · ${(state.sent / seconds).toFixed(1)} frames/s` : "";
  // Screen readers hear when the number of faces changes, not every frame's rate.
  const count = faces.length ? `${faces.length} face${faces.length > 1 ? "s" : ""} in view` : "No face in view";
  if ($("live-announce").textContent !== count) $("live-announce").textContent = count;
  $("live-status").textContent = faces.length
    ? `Live: ${faces.length} face${faces.length > 1 ? "s" : ""}${rate}`
    : `Live: no face in view${rate}`;
}

async function liveTick() {
  if (!state.live || !state.stream) return;
  const video = $("camera-video");
  if (!state.busy && video.videoWidth > 0) {
    state.busy = true;
    try {
      const { canvas, scale } = scaledCanvas(video, video.videoWidth, video.videoHeight, LIVE_MAX_SIDE);
      const blob = await canvasBlob(canvas, "image/jpeg", 0.75);
      const result = await analyzeImage(blob, "live.jpg", { store: false });
      state.sent += 1;
      if (state.live) showLive(result.faces, scale);
    } catch (error) {
      $("live-status").textContent = `Live paused: ${error.message}`;
    } finally {
      state.busy = false;
    }
  }
  if (state.live) state.timer = setTimeout(liveTick, LIVE_INTERVAL_MS);
}

/** Stop the camera because its tab or the page went out of view, remembering what was on. */
function pauseCamera() {
  if (!state.stream) return;
  state.paused = { live: state.live };
  stopCamera();
  $("live-status").textContent = "Camera paused while you are away from this tab.";
}

/** Restart what pauseCamera stopped, once the tab and the page are back in view. */
async function resumeCamera() {
  if (!state.paused || !inView()) return;
  const { live } = state.paused;
  state.paused = null;
  $("live-status").textContent = "";
  if (await startCamera()) {
    if (live) {
      $("live-toggle").checked = true;
      setLive(true);
    }
  }
}

/** Called when the page's mode tabs change, and on visibility changes. */
export function cameraViewChanged() {
  if (inView()) resumeCamera();
  else pauseCamera();
}

/** Show the analysed snapshot: the frame with numbered boxes above cards with the same numbers. */
function showSnapshot(frame, faces) {
  const canvas = $("snapshot-canvas");
  $("snapshot-section").hidden = false; // shown first: labels are sized for the shown width
  canvas.width = frame.width;
  canvas.height = frame.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(frame, 0, 0);
  drawFaces(ctx, faces, 1);
  canvas.dataset.faces = String(faces.length);
  canvas.setAttribute("aria-label", faces.length
    ? `The snapshot, with ${faces.length} numbered face box${faces.length > 1 ? "es" : ""}, matching the cards below`
    : "The snapshot; no face was found in it");
  renderCards($("snapshot-result"), faces);
}

async function snapshot() {
  const video = $("camera-video");
  if (!state.stream || !video.videoWidth) return;
  const button = $("snapshot");
  button.disabled = true;
  try {
    const { canvas } = scaledCanvas(video, video.videoWidth, video.videoHeight, 100000);
    const blob = await canvasBlob(canvas, "image/jpeg", 0.92);
    const result = await analyzeImage(blob, "snapshot.jpg", { store: true });
    showSnapshot(canvas, result.faces);
    drawFaces(canvas.getContext("2d"), result.faces, 1);
    document.dispatchEvent(new CustomEvent("faceinsight:stored", { detail: result }));
    addEntry({
      kind: "snapshot",
      title: "Snapshot",
      text: result.faces.length ? result.faces.map(faceSummary).join("; ") : "No face found",
      thumb: thumbnail(canvas, canvas.width, canvas.height),
    });
    if (!result.faces.length) showMessage("No face found in the snapshot. Face the camera in good light.", "warning");
    else if (result.storage_error) showMessage(result.storage_error, "warning");
    else clearMessage();
  } catch (error) {
    showMessage(`The snapshot could not be analysed: ${error.message}`, "error");
  } finally {
    button.disabled = !state.stream;
  }
}

export function initCamera() {
  $("camera-enable").addEventListener("click", toggleCamera);
  document.addEventListener("visibilitychange", cameraViewChanged);
  $("live-toggle").addEventListener("change", (event) => setLive(event.target.checked));
  $("snapshot").addEventListener("click", snapshot);
  if (!window.isSecureContext) {
    $("camera-enable").title = "The camera needs https or localhost";
  }
}
