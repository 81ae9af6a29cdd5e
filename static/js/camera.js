// Webcam mode: enable the camera, live overlay from downscaled frames, full-resolution snapshots.
import { drawFaces } from "./draw.js";
import { renderCards } from "./cards.js";
import { addEntry } from "./log.js";
import {
  analyzeImage, canvasBlob, clearMessage, el, faceSummary, scaledCanvas, showMessage, thumbnail,
} from "./util.js";

const LIVE_MAX_SIDE = 360; // live frames are downscaled: fast to send, enough for the detector
const LIVE_INTERVAL_MS = 250; // at most about four live requests a second

const state = { stream: null, live: false, busy: false, timer: null, sent: 0, started: 0 };

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

async function enableCamera() {
  if (state.stream) {
    stopCamera();
    return;
  }
  if (!cameraAvailable()) return;
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: "user" }, audio: false,
    });
  } catch (error) {
    showMessage(cameraErrorText(error), "error");
    return;
  }
  clearMessage();
  const video = $("camera-video");
  video.srcObject = state.stream;
  video.addEventListener("loadedmetadata", resetOverlay, { once: true });
  await video.play().catch(() => {});
  $("camera-placeholder").hidden = true;
  $("camera-enable").textContent = "Stop camera";
  $("live-toggle").disabled = false;
  $("snapshot").disabled = false;
}

function stopCamera() {
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
  }
}

function showLive(faces, scale) {
  const video = $("camera-video");
  const overlay = $("camera-overlay");
  if (overlay.width !== video.videoWidth || overlay.height !== video.videoHeight) resetOverlay();
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  drawFaces(ctx, faces, 1 / scale);
  overlay.dataset.faces = String(faces.length);
  const list = $("live-faces");
  list.replaceChildren(...faces.map((face, i) => el("li", null, `${i + 1}: ${faceSummary(face)}`)));
  const rate = state.sent / Math.max(0.001, (performance.now() - state.started) / 1000);
  $("live-status").textContent = faces.length
    ? `Live: ${faces.length} face${faces.length > 1 ? "s" : ""} · ${rate.toFixed(1)} frames/s`
    : `Live: no face in view · ${rate.toFixed(1)} frames/s`;
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

async function snapshot() {
  const video = $("camera-video");
  if (!state.stream || !video.videoWidth) return;
  const button = $("snapshot");
  button.disabled = true;
  try {
    const { canvas } = scaledCanvas(video, video.videoWidth, video.videoHeight, 100000);
    const blob = await canvasBlob(canvas, "image/jpeg", 0.92);
    const result = await analyzeImage(blob, "snapshot.jpg", { store: true });
    renderCards($("snapshot-result"), result.faces);
    drawFaces(canvas.getContext("2d"), result.faces, 1);
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
    button.disabled = false;
  }
}

export function initCamera() {
  $("camera-enable").addEventListener("click", enableCamera);
  $("live-toggle").addEventListener("change", (event) => setLive(event.target.checked));
  $("snapshot").addEventListener("click", snapshot);
  if (!window.isSecureContext) {
    $("camera-enable").title = "The camera needs https or localhost";
  }
}
