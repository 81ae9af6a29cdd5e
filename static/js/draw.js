// Boxes and labels over images and video frames.
import { EMOTION_COLORS } from "./util.js";

/** The short label drawn above a face box. */
export function faceLabel(face) {
  return `${Math.round(face.age)} · ${face.gender} · ${face.emotion}`;
}

/**
 * Draw each face's box and its numbered label on a 2D context. Box n is card "Face n".
 * Labels stay inside the canvas: above the box, below it when there is no room, and shifted
 * sideways (or cut down to the number) at the edges.
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
    let top = y - labelHeight >= 0 ? y - labelHeight : y + h;
    top = Math.max(0, Math.min(top, height - labelHeight));
    // Where the box's left edge is on screen (a mirrored canvas shows x at width - x).
    const screenLeft = mirror ? width - (x + w) : x;
    const left = Math.max(0, Math.min(screenLeft - line / 2, width - textWidth));
    ctx.save();
    if (mirror) ctx.setTransform(-1, 0, 0, 1, width, 0);
    ctx.fillStyle = color;
    ctx.fillRect(left, top, textWidth, labelHeight);
    ctx.fillStyle = face.emotion === "happy" ? "#1d2430" : "#ffffff"; // dark on the yellow
    ctx.fillText(label, left + 4, top + fontSize + 4);
    ctx.restore();
  });
}
