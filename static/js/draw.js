// Boxes and labels over images and video frames.
import { EMOTION_COLORS } from "./util.js";

/** The short label drawn above a face box. */
export function faceLabel(face) {
  return `${Math.round(face.age)} · ${face.gender} · ${face.emotion}`;
}

/**
 * Where a label goes: the first of the preferred tops (above the box, below it, inside its top)
 * that fits the canvas and covers no label already placed; else the nearest free place going
 * down (then up) from the first; else the first, as it is.
 */
function labelTop(placed, left, width, height, preferred, canvasHeight) {
  const fits = (top) => top >= 0 && top + height <= canvasHeight;
  const free = (top) => placed.every((p) => left >= p.left + p.width || left + width <= p.left
    || top >= p.top + p.height || top + height <= p.top);
  const first = Math.max(0, Math.min(preferred[0] >= 0 ? preferred[0] : preferred[1], canvasHeight - height));
  const found = preferred.find((top) => fits(top) && free(top));
  if (found !== undefined) return found;
  for (let step = 1; step * height <= canvasHeight; step += 1) {
    for (const top of [first + step * height, first - step * height]) {
      if (fits(top) && free(top)) return top;
    }
  }
  return first;
}

/**
 * Draw each face's box and its numbered label on a 2D context. Box n is card "Face n".
 * Labels stay inside the canvas: above the box, below it when there is no room, and shifted
 * sideways (or cut down to the number) at the edges; a label that would cover an earlier one
 * moves (see labelTop), so every number stays readable.
 * @param ctx the canvas context
 * @param faces faces from the API (boxes in source pixels)
 * @param scale canvas pixels per source pixel
 * @param options {mirror, names}: mirror: the canvas is shown mirrored by CSS (scaleX(-1));
 *   labels are drawn mirrored too, so that they read the right way round on screen. names:
 *   each face's label prefix instead of its number (e.g. video track ids "#2")
 */
export function drawFaces(ctx, faces, scale = 1, { mirror = false, names = null } = {}) {
  const width = ctx.canvas.width;
  const height = ctx.canvas.height;
  // Sized for the screen: about 14 CSS px of text however large the picture or small the phone
  // (a canvas not on screen yet, e.g. a thumbnail's, falls back to its own size).
  const shown = ctx.canvas.clientWidth;
  const perCssPx = shown > 0 ? width / shown : Math.max(1, width / 560);
  const line = Math.max(1.5, 2 * perCssPx);
  const fontSize = Math.max(6, Math.round(14 * perCssPx));
  const labelHeight = fontSize + 6;
  ctx.font = `600 ${fontSize}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  const placed = []; // labels drawn so far: a later one never covers an earlier one's number
  faces.forEach((face, index) => {
    const [x, y, w, h] = face.box.map((v) => v * scale);
    const color = EMOTION_COLORS[face.emotion] || "#2563eb";
    ctx.lineWidth = line;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, h);
    const name = names ? names[index] : String(index + 1);
    let label = `${name}: ${faceLabel(face)}`;
    let textWidth = ctx.measureText(label).width + 8;
    if (textWidth > width) {
      label = name;
      textWidth = ctx.measureText(label).width + 8;
    }
    // Where the box's left edge is on screen (a mirrored canvas shows x at width - x).
    const screenLeft = mirror ? width - (x + w) : x;
    const left = Math.max(0, Math.min(screenLeft - line / 2, width - textWidth));
    const top = labelTop(placed, left, textWidth, labelHeight, [y - labelHeight, y + h, y], height);
    placed.push({ left, top, width: textWidth, height: labelHeight });
    ctx.save();
    if (mirror) ctx.setTransform(-1, 0, 0, 1, width, 0);
    ctx.fillStyle = color;
    ctx.fillRect(left, top, textWidth, labelHeight);
    ctx.fillStyle = face.emotion === "happy" ? "#1d2430" : "#ffffff"; // dark on the yellow
    ctx.fillText(label, left + 4, top + fontSize + 4);
    ctx.restore();
  });
}

// Each drawn picture's drawing, repeated when the picture is shown at another width (a phone
// turned, a window resized): labels are sized for the width they are seen at.
const redraws = new WeakMap();
const observer = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
  for (const { target } of entries) {
    const item = redraws.get(target);
    if (item && target.clientWidth > 0 && target.clientWidth !== item.width) {
      item.width = target.clientWidth;
      item.draw();
    }
  }
}) : null;

/** Run draw() now, and again whenever the canvas is shown at another width. */
export function drawSized(canvas, draw) {
  redraws.set(canvas, { draw, width: canvas.clientWidth });
  draw();
  if (observer) observer.observe(canvas);
}
