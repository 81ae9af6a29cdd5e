// Boxes and labels over images and video frames.
import { EMOTION_COLORS } from "./util.js";

/** The short label drawn above a face box. */
export function faceLabel(face) {
  return `${Math.round(face.age)} · ${face.gender} · ${face.emotion}`;
}

/**
 * Where a label goes: the first of the preferred tops (above the box, below it, inside its top)
 * that fits the canvas and covers none of the obstacles (labels already placed, other faces'
 * boxes); else the nearest free place going down (then up) from the first, within a few label
 * heights of the box (further off, a label no longer says which box it belongs to); null where
 * there is none.
 */
function labelTop(obstacles, left, width, height, preferred, canvasHeight) {
  const fits = (top) => top >= 0 && top + height <= canvasHeight;
  const free = (top) => obstacles.every((p) => left >= p.left + p.width || left + width <= p.left
    || top >= p.top + p.height || top + height <= p.top);
  const found = preferred.find((top) => fits(top) && free(top));
  if (found !== undefined) return found;
  const first = Math.max(0, Math.min(preferred[0] >= 0 ? preferred[0] : preferred[1], canvasHeight - height));
  for (let step = 1; step <= NEAR_STEPS; step += 1) {
    for (const top of [first + step * height, first - step * height]) {
      if (fits(top) && free(top)) return top;
    }
  }
  return null;
}

const NEAR_STEPS = 2; // label heights a label may move from its box to stay clear of another

/**
 * Each face's label place, in order: {text, left, top, width, crowded}. A label too wide for
 * the canvas is cut to the face's number (texts[i] up to its colon); one with no place near its
 * box that covers neither another label nor another face goes inside its own box's top, over
 * what it must. A label not right above, below or inside its box is marked crowded.
 */
function placeLabels(ctx, texts, faces, scale, { width, height, labelHeight, line }) {
  const boxes = faces.map((face) => {
    const [x, y, w, h] = face.box.map((v) => v * scale);
    return { left: x, top: y, width: w, height: h };
  });
  const placed = [];
  return faces.map((face, index) => {
    const { left: screenLeft, top: y, height: h } = boxes[index];
    const obstacles = placed.concat(boxes.filter((_, other) => other !== index));
    let text = texts[index];
    let textWidth = ctx.measureText(text).width + 8;
    if (textWidth > width) {
      text = text.split(":")[0];
      textWidth = ctx.measureText(text).width + 8;
    }
    const left = Math.max(0, Math.min(screenLeft - line / 2, width - textWidth));
    const beside = [y - labelHeight, y + h, y];
    let top = labelTop(obstacles, left, textWidth, labelHeight, beside, height);
    const nowhere = top === null;
    if (nowhere) top = Math.max(0, Math.min(y, height - labelHeight));
    placed.push({ left, top, width: textWidth, height: labelHeight });
    // Moved off its box (or over it, anyhow), a label no longer plainly says which face it is.
    return { text, left, top, width: textWidth, crowded: nowhere || !beside.includes(top) };
  });
}

/**
 * Draw each face's box and its numbered label on a 2D context. Box n is card "Face n".
 * Labels stay inside the canvas: above the box, below it when there is no room, and shifted
 * sideways (or cut down to the number) at the edges; a label that would cover an earlier one
 * or another face moves (see labelTop), so every number stays readable and no face is hidden.
 * @param ctx the canvas context
 * @param faces faces from the API (boxes in source pixels)
 * @param scale canvas pixels per source pixel
 * @param options {names}: each face's label prefix instead of its number (e.g. video track ids "#2")
 */
export function drawFaces(ctx, faces, scale = 1, { names = null } = {}) {
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
  const prefixes = faces.map((face, index) => (names ? names[index] : String(index + 1)));
  // Whole labels where they all have room beside the faces; else numbers alone for every face
  // (the cards say the rest): a crowd's numbers all stay readable, next to their own boxes.
  let spots = placeLabels(ctx, faces.map((face, i) => `${prefixes[i]}: ${faceLabel(face)}`), faces, scale,
    { width, height, labelHeight, line });
  if (spots.some((spot) => spot.crowded)) {
    spots = placeLabels(ctx, prefixes, faces, scale, { width, height, labelHeight, line });
  }
  faces.forEach((face, index) => {
    const [x, y, w, h] = face.box.map((v) => v * scale);
    const color = EMOTION_COLORS[face.emotion] || "#2563eb";
    ctx.lineWidth = line;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, h);
    const { text: label, left, top, width: textWidth } = spots[index];
    ctx.fillStyle = color;
    ctx.fillRect(left, top, textWidth, labelHeight);
    ctx.fillStyle = face.emotion === "happy" ? "#1d2430" : "#ffffff"; // dark on the yellow
    ctx.fillText(label, left + 4, top + fontSize + 4);
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
