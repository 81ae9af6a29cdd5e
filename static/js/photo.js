// Photo mode: drag and drop or pick a photo; boxed image and a card per face.
import { drawFaces } from "./draw.js";
import { renderCards } from "./cards.js";
import { addEntry } from "./log.js";
import { analyzeImage, clearMessage, faceSummary, showMessage, thumbnail } from "./util.js";

function $(id) {
  return document.getElementById(id);
}

async function decodeForDisplay(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (error) {
    return null; // e.g. TIFF: the server can read it even if the browser cannot show it
  }
}

/** Analyse one photo file and show it. */
export async function handlePhoto(file) {
  if (!file) return;
  const limitMb = Number(document.body.dataset.maxPhotoMb || "10");
  if (file.size > limitMb * 1024 * 1024) {
    showMessage(`That photo is larger than ${limitMb} MiB; choose a smaller one.`, "error");
    return;
  }
  showMessage(`Analysing ${file.name}…`);
  let result;
  try {
    result = await analyzeImage(file, file.name, { store: true });
  } catch (error) {
    showMessage(`${file.name}: ${error.message}`, "error");
    return;
  }
  const bitmap = await decodeForDisplay(file);
  const canvas = $("photo-canvas");
  $("photo-stage").hidden = !bitmap;
  if (bitmap) {
    // Boxes come in the upright image's pixels; draw the bitmap at that size.
    canvas.width = result.image.width;
    canvas.height = result.image.height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    drawFaces(ctx, result.faces, 1);
  }
  renderCards($("photo-cards"), result.faces);
  addEntry({
    kind: "photo",
    title: file.name || "Photo",
    text: result.faces.length ? result.faces.map(faceSummary).join("; ") : "No face found",
    thumb: bitmap ? thumbnail(canvas, canvas.width, canvas.height) : "",
  });
  if (!result.faces.length) showMessage(`No face found in ${file.name}.`, "warning");
  else if (result.storage_error) showMessage(result.storage_error, "warning");
  else clearMessage();
}

export function initPhoto() {
  const zone = $("dropzone");
  const input = $("photo-input");
  input.addEventListener("change", () => handlePhoto(input.files[0]));
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
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) handlePhoto(file);
  });
}
