// Video mode: upload, background analysis with progress, emotion chart, tracks, downloads, seeking.
import { drawFaces } from "./draw.js";
import { addEntry } from "./log.js";
import {
  EMOTIONS, EMOTION_COLORS, clearMessage, el, errorMessage, faceSummary, showMessage, thumbnail,
} from "./util.js";

const POLL_MS = 600;
const PAD = { left: 40, right: 12, top: 12, bottom: 28 };
const job = { id: null, url: null, results: null, timer: null, xhr: null };
let shown = null; // the results on screen, redrawn when the theme changes

function $(id) {
  return document.getElementById(id);
}

function setProgress(value, text) {
  $("video-progress-row").hidden = false;
  $("video-progress").value = value;
  $("video-progress-text").textContent = text;
}

function resetJob() {
  clearTimeout(job.timer);
  Object.assign(job, { id: null, url: null, results: null, timer: null, xhr: null });
  $("video-submit").disabled = false;
  $("video-cancel").hidden = true;
}

/** Remove everything a previous job showed. */
export function clearVideo() {
  if (job.xhr) job.xhr.abort();
  resetJob();
  $("video-results").hidden = true;
  shown = null;
  $("video-progress-row").hidden = true;
  $("video-frame").hidden = true;
  $("video-frame-caption").textContent = "";
}

function upload(file, fps) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("sample_fps", String(fps));
    const xhr = new XMLHttpRequest();
    job.xhr = xhr;
    xhr.open("POST", "/api/v1/videos");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) setProgress(0, `Uploading ${Math.round((event.loaded / event.total) * 100)} %`);
    });
    xhr.addEventListener("load", () => {
      job.xhr = null;
      if (xhr.status === 202) resolve(xhr.response);
      else reject(new Error((xhr.response && xhr.response.error) || `the server answered ${xhr.status}`));
    });
    xhr.addEventListener("error", () => reject(new Error("the upload failed (network error)")));
    xhr.addEventListener("abort", () => reject(new Error("the upload was cancelled")));
    xhr.send(form);
  });
}

async function submit(event) {
  event.preventDefault();
  const file = $("video-input").files[0];
  if (!file) {
    showMessage("Choose a video file first.", "warning");
    return;
  }
  const limitMb = Number(document.body.dataset.maxVideoMb || "100");
  if (file.size > limitMb * 1024 * 1024) {
    showMessage(`That video is larger than ${limitMb} MiB.`, "error");
    return;
  }
  clearVideo();
  clearMessage();
  $("video-submit").disabled = true;
  $("video-cancel").hidden = false;
  setProgress(0, "Uploading…");
  try {
    const created = await upload(file, $("video-fps").value);
    job.id = created.id;
    job.url = created.url;
    job.name = file.name;
    setProgress(0, "0 % · queued");
    poll();
  } catch (error) {
    showMessage(`${file.name}: ${error.message}`, "error");
    $("video-progress-row").hidden = true;
    resetJob();
  }
}

async function poll() {
  if (!job.url) return;
  let state;
  try {
    const response = await fetch(job.url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(await errorMessage(response));
    state = await response.json();
  } catch (error) {
    showMessage(`Lost track of the video job: ${error.message}`, "error");
    resetJob();
    return;
  }
  setProgress(state.progress, `${state.progress} % · ${state.status}`);
  if (state.status === "done") {
    showResults(state);
    resetJob();
  } else if (state.status === "failed" || state.status === "cancelled") {
    showMessage(`The video was not analysed: ${state.error || state.status}`, "error");
    resetJob();
  } else {
    job.timer = setTimeout(poll, POLL_MS);
  }
}

async function cancel() {
  if (job.xhr) {
    job.xhr.abort();
    return;
  }
  if (!job.url) return;
  const url = job.url;
  resetJob();
  await fetch(url, { method: "DELETE", credentials: "same-origin" }).catch(() => {});
  setProgress(0, "cancelled");
  showMessage("The video job was cancelled and its files removed.");
}

function chartGeometry(canvas, results) {
  const frames = results.frames;
  const end = Math.max(frames.length ? frames[frames.length - 1].time_s : 0, 0.001);
  const width = canvas.width - PAD.left - PAD.right;
  const height = canvas.height - PAD.top - PAD.bottom;
  return {
    x: (t) => PAD.left + (t / end) * width,
    y: (v) => PAD.top + (1 - v) * height,
    time: (px) => ((px - PAD.left) / width) * end,
    end,
  };
}

/** Emotion scores of each frame's largest face (null for frames without one). */
function timeline(results) {
  return results.frames.map((frame) => (frame.faces.length ? frame.faces[0].emotion_scores : null));
}

function drawChart(results) {
  const canvas = $("video-chart");
  const ctx = canvas.getContext("2d");
  const style = getComputedStyle(document.documentElement);
  const fg = style.getPropertyValue("--muted").trim() || "#666";
  const geometry = chartGeometry(canvas, results);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = fg;
  ctx.fillStyle = fg;
  ctx.lineWidth = 1;
  ctx.font = "11px system-ui, sans-serif";
  ctx.beginPath();
  ctx.moveTo(PAD.left, PAD.top);
  ctx.lineTo(PAD.left, geometry.y(0));
  ctx.lineTo(canvas.width - PAD.right, geometry.y(0));
  ctx.stroke();
  for (const v of [0, 0.5, 1]) ctx.fillText(v.toFixed(1), 8, geometry.y(v) + 4);
  ctx.fillText("0 s", PAD.left, canvas.height - 8);
  ctx.fillText(`${geometry.end.toFixed(1)} s`, canvas.width - PAD.right - 40, canvas.height - 8);
  const scores = timeline(results);
  for (const name of EMOTIONS) {
    ctx.strokeStyle = EMOTION_COLORS[name];
    ctx.lineWidth = 2;
    ctx.beginPath();
    let drawing = false;
    results.frames.forEach((frame, i) => {
      if (!scores[i]) {
        drawing = false;
        return;
      }
      const x = geometry.x(frame.time_s);
      const y = geometry.y(scores[i][name]);
      if (drawing) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      drawing = true;
    });
    ctx.stroke();
  }
  canvas.dataset.points = String(results.frames.length);
  const legend = $("chart-legend");
  legend.replaceChildren(...EMOTIONS.map((name) => {
    const item = el("li");
    const swatch = el("i");
    swatch.style.background = EMOTION_COLORS[name];
    item.append(swatch, document.createTextNode(name));
    return item;
  }));
}

function nearestFrame(results, time) {
  let best = 0;
  results.frames.forEach((frame, i) => {
    if (Math.abs(frame.time_s - time) < Math.abs(results.frames[best].time_s - time)) best = i;
  });
  return results.frames[best];
}

/** Show one sampled frame with its boxes (the frame image comes from the server). */
function showFrame(jobUrl, results, frame) {
  const image = new Image();
  image.addEventListener("load", () => {
    const canvas = $("video-frame");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(image, 0, 0);
    drawFaces(ctx, frame.faces, image.naturalWidth / results.video.width);
    canvas.hidden = false;
    canvas.dataset.frame = String(frame.frame);
    const faces = frame.faces.length ? frame.faces.map(faceSummary).join("; ") : "no face";
    $("video-frame-caption").textContent = `At ${frame.time_s.toFixed(2)} s: ${faces}`;
  });
  image.addEventListener("error", () => {
    $("video-frame-caption").textContent = "That frame is no longer available.";
  });
  image.src = `${jobUrl}/frames/${frame.frame}.jpg`;
  return image;
}

function renderTracks(results) {
  const body = $("video-tracks").querySelector("tbody");
  body.replaceChildren(...results.tracks.map((track) => {
    const row = el("tr");
    row.append(
      el("td", null, `#${track.track}`),
      el("td", null, `${track.first_s.toFixed(1)}-${track.last_s.toFixed(1)} s (${track.frames} frames)`),
      el("td", null, `${track.median_age} (${track.age_group})`),
      el("td", null, `${track.gender} (${Math.round(track.gender_probability * 100)} %)`),
      el("td", null, track.dominant_emotion),
    );
    return row;
  }));
  const s = results.summary;
  $("video-summary").textContent = s.tracks
    ? `${s.frames_analyzed} frames analysed, faces in ${s.frames_with_faces}; ${s.tracks} face track(s); `
      + `dominant emotion ${s.dominant_emotion}, median age ${s.median_age}.`
    : `${s.frames_analyzed} frames analysed; no face found in the video.`;
}

function showResults(state) {
  const results = state.results;
  job.results = results;
  shown = results;
  const jobUrl = state.links.self;
  $("video-results").hidden = false;
  drawChart(results);
  renderTracks(results);
  $("video-csv").href = state.links.csv;
  $("video-json").href = state.links.json;
  const chart = $("video-chart");
  chart.onclick = (event) => {
    const rect = chart.getBoundingClientRect();
    const px = ((event.clientX - rect.left) / rect.width) * chart.width;
    showFrame(jobUrl, results, nearestFrame(results, chartGeometry(chart, results).time(px)));
  };
  if (!results.summary.tracks) showMessage("No face found in the video.", "warning");
  const first = results.frames.find((frame) => frame.faces.length) || results.frames[0];
  const image = showFrame(jobUrl, results, first);
  const name = state.name || "Video";
  const text = results.summary.tracks
    ? `${results.summary.tracks} face(s), mostly ${results.summary.dominant_emotion}`
    : "No face found";
  image.addEventListener("load", () => addEntry({
    kind: "video", title: name, text, thumb: thumbnail(image, image.naturalWidth, image.naturalHeight),
  }), { once: true });
  image.addEventListener("error", () => addEntry({ kind: "video", title: name, text, thumb: "" }), { once: true });
}

export function initVideo() {
  $("video-form").addEventListener("submit", submit);
  $("video-cancel").addEventListener("click", cancel);
  document.addEventListener("faceinsight:theme", () => {
    if (shown) drawChart(shown);
  });
}
