// Webcam snapshots: one full-size frame, mirrored as the preview shows it, read by the server and
// shown with a numbered box on each face above cards with the same numbers.
import { renderCards } from "./cards.js";
import { $ } from "./dom.js";
import { drawFaces, drawSized } from "./draw.js";
import { STORED, announce } from "./events.js";
import { addEntry } from "./log.js";
import { analyzeImage, canvasBlob, facesFound, facesLine, showMessage, thumbnail } from "./util.js";

let cleared = 0; // bumped by Clear session: a snapshot answered after it is not shown

/**
 * The camera's current frame mirrored as the preview shows it, no larger than maxSide.
 * @param video the camera's video element
 * @param maxSide the longest side of the frame drawn
 * @returns {canvas, scale}: scale is the canvas's pixels per video pixel
 */
export function mirroredFrame(video, maxSide) {
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(video.videoWidth * scale));
  canvas.height = Math.max(1, Math.round(video.videoHeight * scale));
  const ctx = canvas.getContext("2d");
  ctx.setTransform(-1, 0, 0, 1, canvas.width, 0);
  ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
  return { canvas, scale };
}

/** Show the analysed snapshot: the frame with numbered boxes above cards with the same numbers. */
function showSnapshot(frame, faces) {
  const canvas = $("snapshot-canvas");
  $("snapshot-section").hidden = false; // shown first: labels are sized for the shown width
  canvas.width = frame.width;
  canvas.height = frame.height;
  const ctx = canvas.getContext("2d");
  drawSized(canvas, () => {
    ctx.drawImage(frame, 0, 0);
    drawFaces(ctx, faces, 1);
  });
  canvas.dataset.faces = String(faces.length);
  canvas.setAttribute("aria-label", faces.length
    ? `The snapshot, with ${faces.length} numbered face box${faces.length > 1 ? "es" : ""}, matching the cards below`
    : "The snapshot; no face was found in it");
  renderCards($("snapshot-result"), faces);
}

/**
 * Read the camera's current frame at full size, show it with its faces, log it and say what
 * was found.
 * @param video the camera's video element, playing
 * @param cameraOn whether the camera still runs (the button is enabled again only then)
 */
export async function takeSnapshot(video, cameraOn) {
  const button = $("snapshot");
  const hadFocus = document.activeElement === button;
  button.disabled = true; // a disabled button loses the focus: it is given back below
  const before = cleared;
  try {
    const { canvas } = mirroredFrame(video, Infinity); // the full frame, as the preview shows it
    const blob = await canvasBlob(canvas, "image/jpeg", 0.92);
    const result = await analyzeImage(blob, "snapshot.jpg", { store: true });
    if (before !== cleared) return; // the session was cleared meanwhile: forget it
    showSnapshot(canvas, result.faces); // the frame stays clean: it is drawn again on a resize
    announce(STORED, result);
    const shown = $("snapshot-canvas");
    addEntry({
      kind: "snapshot",
      title: "Snapshot",
      text: facesLine(result.faces),
      thumb: thumbnail(shown, shown.width, shown.height),
    });
    if (!result.faces.length) showMessage("No face found in the snapshot. Face the camera in good light.", "warning");
    else if (result.storage_error) showMessage(result.storage_error, "warning");
    else showMessage(`Snapshot: ${facesFound(result.faces.length)}.`); // said by screen readers too
  } catch (error) {
    if (before === cleared) showMessage(`The snapshot could not be analysed: ${error.message}`, "error");
  } finally {
    button.disabled = !cameraOn();
    if (hadFocus && !button.disabled) button.focus();
  }
}

/** Hide the snapshot, and drop one still on its way (Clear session). */
export function hideSnapshot() {
  cleared += 1;
  $("snapshot-result").replaceChildren();
  $("snapshot-section").hidden = true;
}
