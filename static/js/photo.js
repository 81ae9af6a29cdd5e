// Photo mode: drop or pick photos; each gets its boxed picture and a card per face. A new batch
// (or an error) replaces what was shown before.
import { $ } from "./dom.js";
import { drawFaces, drawSized } from "./draw.js";
import { STORED, announce } from "./events.js";
import { renderCards } from "./cards.js";
import { addEntry } from "./log.js";
import {
  analyzeImage, canvasBlob, el, facesFound, facesLine, scaledCanvas, showMessage, thumbnail,
} from "./util.js";

const MAX_FILES = 10; // one drop analyses at most this many photos
const MAX_SHRINK_MB = 60; // a photo over the upload limit is shrunk here if it is at most this large
// A photo over the upload limit is sent upright as a JPEG of at most these sides, tried in
// order until one fits: 4096 px keeps a crowd's small faces (the server tiles large photos).
const SHRINK_STEPS = [[4096, 0.9], [3072, 0.85], [2048, 0.85]];

let batch = 0; // a newer drop makes an older one's late answers irrelevant

async function decodeForDisplay(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (error) {
    return null; // e.g. HEIC, TIFF: the server reads it and sends a preview to show
  }
}

/** The server's JPEG preview of a photo this browser cannot read (a data URL), decoded. */
async function decodePreview(dataUrl) {
  if (!dataUrl) return null;
  const image = new Image(); // an <img> may load a data: URL (img-src); fetch may not (connect-src)
  image.src = dataUrl;
  try {
    await image.decode();
    return image;
  } catch (error) {
    return null;
  }
}

/** A decoded photo as an upright JPEG Blob under limitBytes, or null if none of the sizes fits. */
async function shrunkToFit(bitmap, limitBytes) {
  for (const [side, quality] of SHRINK_STEPS) {
    const { canvas } = scaledCanvas(bitmap, bitmap.width, bitmap.height, side, "#ffffff");
    const blob = await canvasBlob(canvas, "image/jpeg", quality);
    if (blob.size <= limitBytes) return blob;
  }
  return null;
}

function asJpegName(name) {
  return `${(name || "photo").replace(/\.[^.]*$/, "")}.jpg`;
}

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** What to send for a photo: the file itself, or, over the upload limit, a shrunk copy made in
 * the browser (a phone's 12 MB photo), with a note saying so; an error text when neither fits. */
async function uploadFor(file, bitmap, limitMb) {
  const limitBytes = limitMb * 1024 * 1024;
  if (file.size <= limitBytes) return { blob: file, name: file.name, note: "" };
  if (!bitmap) {
    return { error: `larger than ${limitMb} MiB, in a format this browser cannot shrink` };
  }
  if (file.size > MAX_SHRINK_MB * 1e6) return { error: `larger than ${MAX_SHRINK_MB} MB` };
  const blob = await shrunkToFit(bitmap, limitBytes);
  if (!blob) return { error: `too detailed to send under ${limitMb} MiB even when shrunk` };
  return {
    blob, name: asJpegName(file.name),
    note: `Sent as a smaller copy (${megabytes(blob.size)} instead of ${megabytes(file.size)}).`,
  };
}

/** Remove every photo result. */
export function clearPhotos() {
  batch += 1;
  $("photo-results").replaceChildren();
}

function resultSection(file, index) {
  const section = el("section", "result photo-result");
  const id = `photo-result-${index}`;
  section.setAttribute("aria-labelledby", id);
  const heading = el("h2", null, file.name || "Photo");
  heading.id = id;
  section.append(heading, el("p", "muted status", "Analysing…"));
  return section;
}

/** Analyse one photo file into its section; returns a short outcome for the banner. */
async function analyseInto(section, file, current) {
  const status = section.querySelector(".status");
  const limitMb = Number(document.body.dataset.maxPhotoMb || "10");
  let bitmap = await decodeForDisplay(file);
  const upload = await uploadFor(file, bitmap, limitMb);
  if (upload.error) {
    status.textContent = `Not analysed: ${upload.error}. Choose a smaller photo.`;
    status.className = "error-text status";
    return { error: true, text: `${file.name} is ${upload.error}.` };
  }
  let result;
  try {
    result = await analyzeImage(upload.blob, upload.name, { store: true, preview: !bitmap });
  } catch (error) {
    if (current !== batch) return { stale: true };
    status.textContent = `Not analysed: ${error.message}`;
    status.className = "error-text status";
    return { error: true, text: `${file.name}: ${error.message}` };
  }
  if (current !== batch) return { stale: true };
  bitmap = bitmap || await decodePreview(result.preview);
  if (upload.note) {
    status.textContent = upload.note;
    status.className = "muted shrunk";
  } else status.remove();
  let canvas = null;
  if (bitmap) {
    // Boxes come in the upright image's pixels; draw the bitmap at that size.
    canvas = el("canvas", "photo-canvas");
    canvas.width = result.image.width;
    canvas.height = result.image.height;
    const stage = el("div", "stage result-stage");
    stage.append(canvas);
    section.append(stage); // on the page first: labels are sized for the width it is shown at
    const ctx = canvas.getContext("2d");
    drawSized(canvas, () => {
      ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      drawFaces(ctx, result.faces, 1);
    });
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", result.faces.length
      ? `${file.name || "The photo"}, with ${result.faces.length} numbered face box${result.faces.length > 1 ? "es" : ""}`
      : `${file.name || "The photo"}; no face found`);
    canvas.dataset.faces = String(result.faces.length);
  }
  const found = result.faces_found ?? result.faces.length;
  const leftOut = found > result.faces.length ? leftOutText(found, result.faces.length) : "";
  if (leftOut) section.append(el("p", "muted faces-left-out", `${leftOut}.`));
  const cards = el("div", "cards photo-cards");
  renderCards(cards, result.faces, 3);
  section.append(cards);
  announce(STORED, result);
  addEntry({
    kind: "photo",
    title: file.name || "Photo",
    text: facesLine(result.faces),
    thumb: canvas ? thumbnail(canvas, canvas.width, canvas.height) : "",
  });
  return { faces: result.faces.length, leftOut, name: file.name, storageError: result.storage_error };
}

/** What a photo with more faces than the server reads says: how many were found, how many read. */
function leftOutText(found, read) {
  return `${found} faces found; the ${read} surest were read`;
}

/** Analyse the photos of one drop or pick, one after the other; they replace earlier results. */
export async function handlePhotos(fileList) {
  const files = [...(fileList || [])];
  if (!files.length) return;
  clearPhotos();
  const current = batch;
  const taken = files.slice(0, MAX_FILES);
  const container = $("photo-results");
  const sections = taken.map((file, i) => resultSection(file, i + 1));
  container.append(...sections);
  showMessage(taken.length > 1 ? `Analysing ${taken.length} photos…` : `Analysing ${taken[0].name}…`);
  const outcomes = [];
  for (let i = 0; i < taken.length; i += 1) {
    outcomes.push(await analyseInto(sections[i], taken[i], current));
    if (current !== batch) return;
  }
  const notes = [];
  if (files.length > taken.length) notes.push(`Only the first ${MAX_FILES} of ${files.length} photos were analysed.`);
  const failed = outcomes.filter((o) => o.error).length;
  const faceless = outcomes.filter((o) => o.faces === 0).length;
  if (taken.length === 1 && failed) notes.push(outcomes[0].text || `${taken[0].name} was not analysed.`);
  else if (failed) notes.push(`${failed} of ${taken.length} photos could not be analysed.`);
  if (taken.length === 1 && faceless) notes.push(`No face found in ${taken[0].name}.`);
  else if (faceless) notes.push(`No face found in ${faceless} of ${taken.length} photos.`);
  const storage = outcomes.find((o) => o.storageError);
  if (storage) notes.push(storage.storageError);
  // Only where faces were left out: a photo of exactly as many faces as are read lost none.
  const capped = outcomes.filter((o) => o.leftOut);
  if (taken.length === 1 && capped.length) notes.push(`${capped[0].leftOut}.`);
  else capped.forEach((o) => notes.push(`${o.name}: ${o.leftOut}.`));
  if (!notes.length) {
    // Said aloud by screen readers too (the banner is a polite live region).
    const found = outcomes.reduce((sum, o) => sum + (o.faces || 0), 0);
    showMessage(taken.length === 1 ? `${taken[0].name}: ${facesFound(found)}.`
      : `${taken.length} photos analysed: ${facesFound(found)}.`);
  } else showMessage(notes.join(" "), failed ? "error" : "warning");
}

export function initPhoto() {
  const zone = $("dropzone");
  const input = $("photo-input");
  input.addEventListener("change", () => {
    handlePhotos(input.files);
    input.value = ""; // choosing the same file again analyses it again
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer) handlePhotos(event.dataTransfer.files);
  });
}
