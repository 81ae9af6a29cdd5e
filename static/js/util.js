// Small DOM and HTTP helpers shared by the page's modes. User text only ever goes in via
// textContent (never innerHTML), so file names and server messages cannot inject markup.
import { $ } from "./dom.js";

/** The emotion names in the models' order, as the server names them (faceinsight.labels,
 * rendered into the page's body by templates/index.html). */
export const EMOTIONS = Object.freeze(JSON.parse(document.body.dataset.emotions));
export const EMOTION_COLORS = {
  angry: "#d62728", disgust: "#8c564b", fear: "#9467bd", happy: "#f2a900",
  neutral: "#7f7f7f", sad: "#1f77b4", surprise: "#2ca02c",
};

/** Create an element with optional class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Show a message in the banner; kind is "info", "warning" or "error". */
export function showMessage(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.className = "banner" + (kind === "info" ? "" : " " + kind);
  box.hidden = !text;
}

export function clearMessage() {
  showMessage("");
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** The server's {"error": ...} message of a failed response, or a fallback. */
export async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") return body.error;
  } catch (e) {
    /* not JSON */
  }
  return `the server answered ${response.status}`;
}

/** What a failed request means to a person: the browser's own words ("Failed to fetch",
 * "NetworkError when attempting...") say nothing useful. */
function networkMessage(error) {
  if (error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return "the server took too long to answer";
  }
  if (error instanceof TypeError) return "could not reach the server (check the connection)";
  return (error && error.message) || String(error);
}

/** A fetch that fails, rather than hangs, when the server does not answer within timeoutMs,
 * and fails in words a person reads (networkMessage); a cancel by the caller's own signal
 * stays the browser's AbortError. */
export async function fetchWithin(url, options = {}, timeoutMs = 60000) {
  const timer = new AbortController();
  const stop = setTimeout(() => timer.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
  const outer = options.signal;
  if (outer) {
    if (outer.aborted) timer.abort(outer.reason);
    else outer.addEventListener("abort", () => timer.abort(outer.reason), { once: true });
  }
  try {
    return await fetch(url, { ...options, signal: timer.signal });
  } catch (error) {
    if (outer && outer.aborted) throw error;
    throw new Error(networkMessage(error));
  } finally {
    clearTimeout(stop);
  }
}

/** DELETE a kept capture or a video job, with the CSRF token; one already gone (404) counts as
 * deleted. Throws an Error that says what went wrong. */
export async function deleteOnServer(url) {
  const response = await fetchWithin(url, {
    method: "DELETE", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() },
  });
  if (!response.ok && response.status !== 404) throw new Error(await errorMessage(response));
}

/** POST JSON to one of the session endpoints, with the CSRF token. */
export async function postSession(url, body) {
  const response = await fetchWithin(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body || {}),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
}

/** Send an image (Blob or File) to /api/v1/analyze; resolves to the analysis JSON. With
 * preview, the answer also carries the image as a JPEG data URL (for a HEIC or TIFF file this
 * browser cannot show). */
export async function analyzeImage(blob, name, { store = true, preview = false, signal } = {}) {
  const form = new FormData();
  form.append("file", blob, name || "image.jpg");
  form.append("store", store ? "true" : "false");
  if (preview) form.append("preview", "true");
  // Time to send the file on a slow uplink (10 s a MB) and 30 s for the server to answer.
  const timeoutMs = 30000 + (blob.size / 1e6) * 10000;
  const response = await fetchWithin("/api/v1/analyze", {
    method: "POST", body: form, credentials: "same-origin", signal,
  }, timeoutMs);
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
}

/** Draw a drawable (video, image, bitmap) into a canvas no larger than maxSide, over a
 * background colour where one is given (transparent parts stay transparent otherwise). */
export function scaledCanvas(source, width, height, maxSide, background = null) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const ctx = canvas.getContext("2d");
  if (background) {
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  return { canvas, scale };
}

/** A canvas as a Blob (JPEG by default). */
export function canvasBlob(canvas, type = "image/jpeg", quality = 0.85) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("could not encode the image"))),
      type, quality);
  });
}

/** A small square-ish JPEG data URL for the session log; transparent parts over white, as the
 * server reads them (a JPEG made from them would be black there). */
export function thumbnail(source, width, height) {
  return scaledCanvas(source, width, height, 96, "#ffffff").canvas.toDataURL("image/jpeg", 0.7);
}

/** "1 face", "3 faces", "0 video jobs". */
export function count(number, noun) {
  return `${number} ${noun}${number === 1 ? "" : "s"}`;
}

const LOGGED_FACES = 3; // a session log line describes this many faces, then counts the rest

/** A session log line for a result's faces: the first few, then how many more. */
export function facesLine(faces) {
  if (!faces.length) return "No face found";
  const described = faces.slice(0, LOGGED_FACES).map(faceSummary).join("; ");
  const more = faces.length - LOGGED_FACES;
  return more > 0 ? `${described}; and ${count(more, "more face")}` : described;
}

/** "1 face found", "3 faces found". */
export function facesFound(number) {
  return `${count(number, "face")} found`;
}

/** "93 %", the sign never wrapped onto a line of its own. */
export function percent(value) {
  return `${Math.round(value * 100)}\u00a0%`;
}

/** The age as a person reads it: "31 (likely 25-40), group 31-80": the number, its range and
 * its bracket, on every face alike. */
export function ageText(face) {
  const [low, high] = face.age_range;
  return `${Math.round(face.age)} (likely ${low}-${high}), group ${face.age_group}`;
}

/** One line describing a face, e.g. "31 (25-40) · male 93 % · happy 71 %". */
export function faceSummary(face) {
  const [low, high] = face.age_range;
  return `${Math.round(face.age)} (${low}-${high}) · ${face.gender} ${percent(face.gender_probability)}`
    + ` · ${face.emotion} ${percent(face.emotion_scores[face.emotion])}`;
}
