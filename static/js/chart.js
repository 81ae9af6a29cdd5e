// The video's emotion chart: one line per emotion over time for the chosen face, on a canvas,
// with a legend and a marker at the selected frame.
import { TAB_CHANGED, THEME_CHANGED, listen } from "./events.js";
import { EMOTIONS, EMOTION_COLORS, el } from "./util.js";

// The chart is drawn in CSS pixels (times the device pixel ratio), so its text stays 12 px on
// a phone as on a desktop.
const PAD = { left: 42, right: 14, top: 14, bottom: 38 };
const TICK_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];

/** The samples of one track (or person, with field "person"): [{frame, face}] in time order. */
export function trackPoints(results, trackId, field = "track") {
  const points = [];
  for (const frame of results.frames) {
    const face = frame.faces.find((f) => f[field] === trackId);
    if (face) points.push({ frame, face });
  }
  return points;
}

function chartGeometry(canvas, results) {
  const frames = results.frames;
  const end = Math.max(frames.length ? frames[frames.length - 1].time_s : 0, 0.001);
  const cssWidth = canvas.clientWidth || 600;
  const cssHeight = canvas.clientHeight || 220;
  const width = cssWidth - PAD.left - PAD.right;
  const height = cssHeight - PAD.top - PAD.bottom;
  return {
    x: (t) => PAD.left + (t / end) * width,
    y: (v) => PAD.top + (1 - v) * height,
    time: (px) => Math.min(end, Math.max(0, ((px - PAD.left) / width) * end)),
    end, width, height, cssWidth, cssHeight,
  };
}

/** The time (s) under a horizontal position on the chart (px from its left edge). */
export function timeAt(canvas, results, px) {
  return chartGeometry(canvas, results).time(px);
}

function tickStep(end, width) {
  const most = Math.max(2, Math.floor(width / 56)); // a label every 56 px at most
  return TICK_STEPS.find((step) => end / step <= most) || TICK_STEPS[TICK_STEPS.length - 1];
}

function formatSeconds(t, step) {
  return step < 1 ? t.toFixed(1) : String(Math.round(t));
}

/** The page's colours for the chart, from the theme's CSS variables. */
function themeColours() {
  const style = getComputedStyle(document.documentElement);
  return {
    muted: style.getPropertyValue("--muted").trim() || "#666",
    fg: style.getPropertyValue("--fg").trim() || "#000",
    grid: style.getPropertyValue("--border").trim() || "#ddd",
  };
}

/** The horizontal grid with the score axis (0-100 %), and the time axis under it. */
function drawAxes(ctx, geometry, colours) {
  ctx.font = "12px system-ui, sans-serif";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of [0, 0.5, 1]) {
    ctx.strokeStyle = colours.grid;
    ctx.beginPath();
    ctx.moveTo(PAD.left, geometry.y(v));
    ctx.lineTo(geometry.cssWidth - PAD.right, geometry.y(v));
    ctx.stroke();
    ctx.fillStyle = colours.muted;
    ctx.fillText(`${Math.round(v * 100)} %`, PAD.left - 6, geometry.y(v));
  }
  // One tick label per step, the unit once, under the axis.
  const step = tickStep(geometry.end, geometry.width);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.strokeStyle = colours.muted;
  for (let t = 0; t <= geometry.end + 1e-9; t += step) {
    const x = geometry.x(t);
    ctx.beginPath();
    ctx.moveTo(x, geometry.y(0));
    ctx.lineTo(x, geometry.y(0) + 4);
    ctx.stroke();
    ctx.fillText(formatSeconds(t, step), x, geometry.y(0) + 6);
  }
  ctx.fillText("time (s)", PAD.left + geometry.width / 2, geometry.y(0) + 21);
}

/** One line per emotion for the chosen face's points; gaps where it is not seen. */
function drawLines(ctx, geometry, frames, points) {
  const byFrame = new Map(points.map((p) => [p.frame.frame, p.face]));
  for (const name of EMOTIONS) {
    ctx.strokeStyle = EMOTION_COLORS[name];
    ctx.fillStyle = EMOTION_COLORS[name];
    ctx.lineWidth = 2;
    ctx.beginPath();
    let drawing = false;
    for (const frame of frames) {
      if (!byFrame.has(frame.frame)) {
        drawing = false;
        continue;
      }
      const x = geometry.x(frame.time_s);
      const y = geometry.y(byFrame.get(frame.frame).emotion_scores[name]);
      if (drawing) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      drawing = true;
    }
    ctx.stroke();
    if (points.length === 1) { // a single sample: a dot, not an invisible line
      ctx.beginPath();
      ctx.arc(geometry.x(points[0].frame.time_s), geometry.y(points[0].face.emotion_scores[name]), 3, 0, 7);
      ctx.fill();
    }
  }
}

/** The dashed marker at the selected frame, with its time above. */
function drawMarker(ctx, geometry, selected, colour) {
  const x = geometry.x(selected.time_s);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1.5;
  ctx.setLineDash([4, 3]);
  ctx.beginPath();
  ctx.moveTo(x, PAD.top - 4);
  ctx.lineTo(x, geometry.y(0));
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = colour;
  ctx.textAlign = x > geometry.cssWidth - 60 ? "right" : "left";
  ctx.textBaseline = "top";
  ctx.fillText(`${selected.time_s.toFixed(2)} s`, x + (ctx.textAlign === "right" ? -4 : 4), 0);
}

/**
 * Draw the chart at the canvas's shown size; nothing while it is not on screen (another tab:
 * it is drawn when the tab is shown).
 * @param canvas the chart's canvas
 * @param view {results, trackId, selected, field}: a job's results, the face charted, the selected
 *   frame; field "person" when trackId is a person's number (default "track")
 */
export function drawChart(canvas, { results, trackId, selected, field = "track" }) {
  if (!canvas.clientWidth) return;
  const ratio = window.devicePixelRatio || 1;
  const geometry = chartGeometry(canvas, results);
  canvas.width = Math.round(geometry.cssWidth * ratio);
  canvas.height = Math.round(geometry.cssHeight * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const colours = themeColours();
  ctx.clearRect(0, 0, geometry.cssWidth, geometry.cssHeight);
  drawAxes(ctx, geometry, colours);
  const points = trackPoints(results, trackId, field);
  drawLines(ctx, geometry, results.frames, points);
  if (selected) {
    drawMarker(ctx, geometry, selected, colours.fg);
    canvas.dataset.marker = String(selected.frame);
  }
  canvas.dataset.points = String(points.length);
  const seen = (field === "person" ? results.people : results.tracks).find((t) => t[field] === trackId);
  const who = field === "person" ? `person ${trackId}` : `face #${trackId}`;
  canvas.setAttribute("aria-label", seen
    ? `Emotion scores over time for ${who}, seen ${seen.first_s.toFixed(1)} to ${seen.last_s.toFixed(1)} s`
      + (selected ? `; selected ${selected.time_s.toFixed(2)} s` : "")
    : "Emotion over time: no face was found");
}

/** The legend: a colour swatch and the name of each emotion. */
export function renderLegend(list) {
  list.replaceChildren(...EMOTIONS.map((name) => {
    const item = el("li");
    const swatch = el("i");
    swatch.style.background = EMOTION_COLORS[name];
    item.append(swatch, document.createTextNode(name));
    return item;
  }));
}

/** Call ``redraw`` when the chart's look or room changes: the theme, the tab, the window's size
 * (at most once a frame while a window is resized). */
export function redrawOnViewChange(redraw) {
  listen(THEME_CHANGED, redraw);
  listen(TAB_CHANGED, redraw);
  let pending = false;
  window.addEventListener("resize", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      redraw();
    });
  });
}
