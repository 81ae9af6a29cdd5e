// Boxes and labels over images and video frames.
import { EMOTION_COLORS } from "./util.js";

/** The short label drawn above a face box. */
export function faceLabel(face) {
  return `${Math.round(face.age)} · ${face.gender} · ${face.emotion}`;
}

/**
 * Draw each face's box and label on a 2D context.
 * @param ctx the canvas context
 * @param faces faces from the API (boxes in source pixels)
 * @param scale canvas pixels per source pixel
 */
export function drawFaces(ctx, faces, scale = 1) {
  const line = Math.max(2, Math.round(ctx.canvas.width / 300));
  const fontSize = Math.max(12, Math.round(ctx.canvas.width / 40));
  ctx.font = `600 ${fontSize}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  faces.forEach((face, index) => {
    const [x, y, w, h] = face.box.map((v) => v * scale);
    const color = EMOTION_COLORS[face.emotion] || "#2563eb";
    ctx.lineWidth = line;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, h);
    const label = (faces.length > 1 ? `${index + 1}: ` : "") + faceLabel(face);
    const textWidth = ctx.measureText(label).width + 8;
    const top = y - fontSize - 6 >= 0 ? y - fontSize - 6 : y + h;
    ctx.fillStyle = color;
    ctx.fillRect(x - line / 2, top, textWidth, fontSize + 6);
    ctx.fillStyle = "#ffffff";
    ctx.fillText(label, x + 4, top + fontSize + 4);
  });
}
