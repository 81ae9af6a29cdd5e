// Video mode: upload, background analysis with progress, emotion chart per face track with its
// data table, downloads, seeking. A new upload leaves the previous results on screen until its
// own results replace them.
import { drawFaces, drawSized } from "./draw.js";
import { addEntry } from "./log.js";
import {
  EMOTIONS, EMOTION_COLORS, clearMessage, count, deleteOnServer, el, errorMessage, faceSummary,
  fetchWithin, percent, showMessage, thumbnail,
} from "./util.js";

const POLL_MS = 600;
// A status check that fails (the network, a restart, a busy server) is tried again, waiting
// longer each time, for this long before the page gives up: the job runs on the server anyway.
const RETRY_FOR_MS = 5 * 60 * 1000;
const RETRY_MAX_MS = 15000;
const SAVED_JOB = "faceinsight.video-job"; // this tab's running job, kept across a reload
const UPLOAD_CANCELLED = "The upload was cancelled; nothing was kept.";
const STATUS_WAIT_MS = 30000; // a status check that has had no answer by then has failed
/** The state of no job: what the page starts with and returns to. */
const noJob = () => ({
  url: null, results: null, timer: null, xhr: null, listed: false, failingSince: null, wait: POLL_MS,
  sent: false, // the upload's body has all left: the server may be making the job already
  cancelled: false, // Cancel pressed then: the job is deleted as soon as the server names it
  resumed: false, // followed again after a reload: the form is shown the job's own rate
});
const job = noJob();
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
  const hadFocus = document.activeElement === $("video-cancel");
  Object.assign(job, noJob());
  sessionStorage.removeItem(SAVED_JOB);
  $("video-submit").disabled = false;
  $("video-cancel").hidden = true;
  if (hadFocus) $("video-submit").focus(); // the cancel button it was on is gone
}

/** Stop following a job and take its progress bar off (it was cancelled, lost or refused). */
function endJob() {
  resetJob();
  $("video-progress-row").hidden = true;
}

/** Follow a job: remembered for this tab, so that a reload picks it up again. */
function followJob(url, name) {
  Object.assign(job, { url, name, failingSince: null, wait: POLL_MS });
  sessionStorage.setItem(SAVED_JOB, JSON.stringify({ url, name }));
  $("video-submit").disabled = true;
  $("video-cancel").hidden = false;
}

/** Remove everything a previous job showed. */
export function clearVideo() {
  if (job.xhr) job.xhr.abort();
  endJob();
  hideResults();
}

function hideResults() {
  $("video-results").hidden = true;
  shown = null;
  $("video-frame").hidden = true;
  $("video-frame-caption").textContent = "";
}

const pathOf = (url) => new URL(url, window.location.href).pathname;
const samePath = (a, b) => pathOf(a) === pathOf(b);

/** A kept video deleted from "Kept on the server": its results, whose frames and downloads
 * are gone with it, leave the page, and a job still running there is no longer followed. */
function forgetDeleted(event) {
  const url = event.detail && event.detail.url;
  if (!url) return;
  if (job.url && samePath(job.url, url)) {
    endJob();
  }
  if (shown && samePath(shown.jobUrl, url)) hideResults();
}

/** The upload was stopped on purpose (Cancel, Clear session, a new upload): not an error. */
class UploadStopped extends Error {}

function upload(file, fps) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("sample_fps", String(fps));
    const xhr = new XMLHttpRequest();
    job.xhr = xhr;
    xhr.open("POST", "/api/v1/videos");
    xhr.responseType = "json";
    xhr.upload.addEventListener("load", () => { job.sent = true; });
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) setProgress(0, `Uploading ${Math.round((event.loaded / event.total) * 100)} %`);
    });
    xhr.addEventListener("load", () => {
      job.xhr = null;
      if (xhr.status === 202) resolve(xhr.response);
      else reject(new Error((xhr.response && xhr.response.error) || `the server answered ${xhr.status}`));
    });
    xhr.addEventListener("error", () => reject(new Error("the upload failed (network error)")));
    xhr.addEventListener("abort", () => reject(new UploadStopped()));
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
  if (job.xhr) job.xhr.abort();
  resetJob();
  clearMessage();
  $("video-cancel").hidden = false;
  $("video-cancel").focus(); // the button that was pressed is about to be disabled
  $("video-submit").disabled = true;
  setProgress(0, "Uploading…");
  try {
    const created = await upload(file, $("video-fps").value);
    if (job.cancelled) { // Cancel pressed once the upload had all left: the job goes at once
      await deleteJob(created.url, UPLOAD_CANCELLED);
      return;
    }
    followJob(created.url, file.name);
    setProgress(0, "0 % · queued");
    if (created.storage_error) showMessage(`${file.name}: ${created.storage_error}.`, "warning");
    poll();
  } catch (error) {
    if (job.cancelled) {  // refused after Cancel: it was not kept either
      endJob();
      showMessage(UPLOAD_CANCELLED);
      return;
    }
    // Stopped by Cancel (said there), Clear session (which says so itself) or a new upload.
    if (!(error instanceof UploadStopped)) {
      showMessage(`${file.name}: ${error.message}`, "error");
      endJob();
    }
  }
}

/** After a failed status check: try again later, or give up once it has failed for long. */
function retryLater(reason) {
  const now = Date.now();
  job.failingSince = job.failingSince || now;
  if (now - job.failingSince > RETRY_FOR_MS) {
    showMessage(`Lost track of the video job: ${reason}. If you kept it, it is listed under `
      + "\u201cKept on the server\u201d when it ends.", "error");
    endJob();
    return;
  }
  job.wait = Math.min(RETRY_MAX_MS, job.wait * 2);
  $("video-progress-text").textContent = `${$("video-progress").value} % · ${reason}; trying again…`;
  job.timer = setTimeout(poll, job.wait);
}

async function poll() {
  if (!job.url) return;
  const url = job.url;
  let state;
  try {
    const response = await fetchWithin(url, { credentials: "same-origin" }, STATUS_WAIT_MS);
    if (response.status === 404) {
      if (url !== job.url) return;
      showMessage("The video job is no longer on the server (it was deleted or has expired).", "error");
      endJob();
      return;
    }
    if (!response.ok) throw new Error(await errorMessage(response));
    state = await response.json();
  } catch (error) {
    if (url === job.url) retryLater(error.message);
    return;
  }
  if (url !== job.url) return; // cancelled or replaced while the check was on its way
  job.failingSince = null;
  job.wait = POLL_MS;
  if (job.resumed) { // the reloaded form shows the default rate, not the one this job runs at
    job.resumed = false;
    $("video-fps").value = String(state.sample_fps);
  }
  // The file and rate too: after a reload the form no longer shows them.
  // A note says what happened on the way (e.g. started again after a server restart).
  setProgress(state.progress, `${state.progress} % · ${state.status} · ${state.name || job.name || "video"}, `
    + `${state.sample_fps} frames/s${state.note ? ` · ${state.note}` : ""}`);
  const finished = ["done", "failed", "cancelled"].includes(state.status);
  if (state.keep && (finished || !job.listed)) {
    // A kept video appears in "Kept on the server" when it starts, and again with its outcome.
    job.listed = true;
    document.dispatchEvent(new CustomEvent("faceinsight:stored", { detail: { stored: true } }));
  }
  if (state.status === "done") {
    showResults(state);
    if (state.warning) showMessage(`${job.name}: ${state.warning}.`, "warning");
    else if (state.note) showMessage(`${state.name || job.name}: ${state.note}; analysed from the start.`);
    resetJob();
  } else if (state.status === "failed" || state.status === "cancelled") {
    showMessage(`The video was not analysed: ${state.error || state.status}`, "error");
    resetJob();
  } else {
    job.timer = setTimeout(poll, POLL_MS);
  }
}

/** Cancel a job the server has named: stop following it, delete it, say so. */
async function deleteJob(url, done) {
  endJob();
  try {
    await deleteOnServer(url);
    showMessage(done);
  } catch (error) {
    showMessage(`Could not cancel the video job: ${error.message}`, "error");
  }
  document.dispatchEvent(new CustomEvent("faceinsight:stored", { detail: { stored: true } })); // the kept list
}

async function cancel() {
  if (job.xhr && job.sent) { // aborting now would leave the job the server is making
    job.cancelled = true;
    $("video-progress-text").textContent = "Cancelling…";
    return;
  }
  if (job.xhr) {
    job.xhr.abort();
    endJob();
    showMessage(UPLOAD_CANCELLED);
    return;
  }
  if (job.url) await deleteJob(job.url, "The video job was cancelled and its files removed.");
}

// The chart is drawn in CSS pixels (times the device pixel ratio), so its text stays 12 px on
// a phone as on a desktop.
const PAD = { left: 42, right: 14, top: 14, bottom: 38 };
const TICK_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];

/** The samples of one track: [{frame, face}] in time order. */
function trackPoints(results, trackId) {
  const points = [];
  for (const frame of results.frames) {
    const face = frame.faces.find((f) => f.track === trackId);
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

function tickStep(end, width) {
  const most = Math.max(2, Math.floor(width / 56)); // a label every 56 px at most
  return TICK_STEPS.find((step) => end / step <= most) || TICK_STEPS[TICK_STEPS.length - 1];
}

function formatSeconds(t, step) {
  return step < 1 ? t.toFixed(1) : String(Math.round(t));
}

function drawChart() {
  if (!shown) return;
  const { results, trackId, selected } = shown;
  const canvas = $("video-chart");
  if (!canvas.clientWidth) return; // not on screen (another tab): drawn when the tab is shown
  const ratio = window.devicePixelRatio || 1;
  const geometry = chartGeometry(canvas, results);
  canvas.width = Math.round(geometry.cssWidth * ratio);
  canvas.height = Math.round(geometry.cssHeight * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const style = getComputedStyle(document.documentElement);
  const muted = style.getPropertyValue("--muted").trim() || "#666";
  const fg = style.getPropertyValue("--fg").trim() || "#000";
  const grid = style.getPropertyValue("--border").trim() || "#ddd";
  ctx.clearRect(0, 0, geometry.cssWidth, geometry.cssHeight);
  ctx.font = "12px system-ui, sans-serif";
  ctx.lineWidth = 1;
  // Horizontal grid and the score axis (0-100 %).
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of [0, 0.5, 1]) {
    ctx.strokeStyle = grid;
    ctx.beginPath();
    ctx.moveTo(PAD.left, geometry.y(v));
    ctx.lineTo(geometry.cssWidth - PAD.right, geometry.y(v));
    ctx.stroke();
    ctx.fillStyle = muted;
    ctx.fillText(`${Math.round(v * 100)} %`, PAD.left - 6, geometry.y(v));
  }
  // The time axis: one tick label per step, the unit once, under the axis.
  const step = tickStep(geometry.end, geometry.width);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.strokeStyle = muted;
  for (let t = 0; t <= geometry.end + 1e-9; t += step) {
    const x = geometry.x(t);
    ctx.beginPath();
    ctx.moveTo(x, geometry.y(0));
    ctx.lineTo(x, geometry.y(0) + 4);
    ctx.stroke();
    ctx.fillText(formatSeconds(t, step), x, geometry.y(0) + 6);
  }
  ctx.fillText("time (s)", PAD.left + geometry.width / 2, geometry.y(0) + 21);
  // One line per emotion for the chosen face; gaps where it is not seen.
  const points = trackPoints(results, trackId);
  const seen = new Set(points.map((p) => p.frame.frame));
  const byFrame = new Map(points.map((p) => [p.frame.frame, p.face]));
  for (const name of EMOTIONS) {
    ctx.strokeStyle = EMOTION_COLORS[name];
    ctx.fillStyle = EMOTION_COLORS[name];
    ctx.lineWidth = 2;
    ctx.beginPath();
    let drawing = false;
    for (const frame of results.frames) {
      if (!seen.has(frame.frame)) {
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
  // The marker at the selected time.
  if (selected) {
    const x = geometry.x(selected.time_s);
    ctx.strokeStyle = fg;
    ctx.lineWidth = 1.5;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(x, PAD.top - 4);
    ctx.lineTo(x, geometry.y(0));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = fg;
    ctx.textAlign = x > geometry.cssWidth - 60 ? "right" : "left";
    ctx.textBaseline = "top";
    ctx.fillText(`${selected.time_s.toFixed(2)} s`, x + (ctx.textAlign === "right" ? -4 : 4), 0);
    canvas.dataset.marker = String(selected.frame);
  }
  canvas.dataset.points = String(points.length);
  const track = results.tracks.find((t) => t.track === trackId);
  canvas.setAttribute("aria-label", track
    ? `Emotion scores over time for face #${trackId}, seen ${track.first_s.toFixed(1)} to ${track.last_s.toFixed(1)} s`
      + (selected ? `; selected ${selected.time_s.toFixed(2)} s` : "")
    : "Emotion over time: no face was found");
}

function renderLegend() {
  $("chart-legend").replaceChildren(...EMOTIONS.map((name) => {
    const item = el("li");
    const swatch = el("i");
    swatch.style.background = EMOTION_COLORS[name];
    item.append(swatch, document.createTextNode(name));
    return item;
  }));
}

function nearestFrame(candidates, time) {
  let best = candidates[0];
  for (const frame of candidates) {
    if (Math.abs(frame.time_s - time) < Math.abs(best.time_s - time)) best = frame;
  }
  return best;
}

/** The frames the chart's selection moves between: the chosen face's, or all of them. */
function selectableFrames() {
  const points = trackPoints(shown.results, shown.trackId);
  return points.length ? points.map((p) => p.frame) : shown.results.frames;
}

/** Select a sampled frame: marker on the chart, the frame with its boxes below, table row marked. */
function selectFrame(frame) {
  if (!shown || !frame) return;
  shown.selected = frame;
  drawChart();
  const image = showFrame(shown.jobUrl, shown.results, frame);
  for (const row of $("video-timeline").querySelectorAll("tbody tr")) {
    const current = row.dataset.frame === String(frame.frame);
    row.classList.toggle("selected", current);
    if (current) row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
  }
  return image;
}

/** Show one sampled frame with its boxes (the frame image comes from the server). */
function showFrame(jobUrl, results, frame) {
  const image = new Image();
  image.addEventListener("load", () => {
    if (shown && shown.selected && shown.selected !== frame) return; // a newer selection won
    const canvas = $("video-frame");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    canvas.hidden = false; // shown first: labels are sized for the shown width
    const ctx = canvas.getContext("2d");
    drawSized(canvas, () => {
      ctx.drawImage(image, 0, 0);
      drawFaces(ctx, frame.faces, image.naturalWidth / results.video.width,
        { names: frame.faces.map((f) => `#${f.track}`) });
    });
    canvas.dataset.frame = String(frame.frame);
    const faces = frame.faces.length
      ? frame.faces.map((f) => `face #${f.track}: ${faceSummary(f)}`).join("; ") : "no face";
    $("video-frame-caption").textContent = `At ${frame.time_s.toFixed(2)} s: ${faces}`;
  });
  image.addEventListener("error", () => {
    $("video-frame-caption").textContent = "That frame is no longer available.";
  });
  image.src = `${jobUrl}/frames/${frame.frame}.jpg`;
  return image;
}

function topScores(scores) {
  return EMOTIONS.map((name) => [name, scores[name]]).sort((a, b) => b[1] - a[1]).slice(0, 3)
    .map(([name, value]) => `${name} ${percent(value)}`).join(", ");
}

/** The chart's data as a table: one row per sample of the chosen face, each selectable. */
function renderTimeline() {
  const { results, trackId } = shown;
  const points = trackPoints(results, trackId);
  $("video-timeline-caption").textContent = points.length
    ? `Face #${trackId}: emotion at each analysed frame (top three scores)` : "No face was found.";
  $("video-timeline").querySelector("tbody").replaceChildren(...points.map(({ frame, face }) => {
    const row = el("tr");
    row.dataset.frame = String(frame.frame);
    const button = el("button", "secondary small", "Show");
    button.type = "button";
    button.setAttribute("aria-label", `Show the frame at ${frame.time_s.toFixed(2)} s`);
    button.addEventListener("click", () => {
      selectFrame(frame);
      document.querySelector(".frame-view").scrollIntoView({ block: "nearest" }); // may be screens above
    });
    const action = el("td");
    action.append(button);
    row.append(el("td", null, `${frame.time_s.toFixed(2)} s`),
      el("td", null, `${face.emotion} ${percent(face.emotion_scores[face.emotion])}`),
      el("td", null, topScores(face.emotion_scores)), action);
    return row;
  }));
}

function renderTracks(results) {
  const body = $("video-tracks").querySelector("tbody");
  body.replaceChildren(...results.tracks.map((track) => {
    const row = el("tr");
    row.append(
      el("th", null, `#${track.track}`),
      el("td", null, `${track.first_s.toFixed(1)}-${track.last_s.toFixed(1)} s (${count(track.frames, "frame")})`),
      el("td", null, `${Math.round(track.median_age)} (group ${track.age_group})`),
      el("td", null, `${track.gender} (${Math.round(track.gender_probability * 100)} %)`),
      el("td", null, track.dominant_emotion),
    );
    row.firstChild.setAttribute("scope", "row");
    return row;
  }));
  const s = results.summary;
  $("video-summary").textContent = s.tracks
    // A face that leaves and comes back starts a new track: tracks are not a count of people.
    ? `${s.frames_analyzed} frames analysed, faces in ${s.frames_with_faces}; ${count(s.tracks, "face track")}; `
      // One age for several people is nobody's: each person's is in the table above.
      + `dominant emotion ${s.dominant_emotion}${s.tracks === 1 ? `, median age ${Math.round(s.median_age)}` : ""}.`
    : `${s.frames_analyzed} frames analysed; no face found in the video.`;
}

function renderTrackPicker(results) {
  const picker = $("chart-track");
  picker.replaceChildren(...results.tracks.map((track) => {
    const option = el("option", null,
      `#${track.track}: ${track.gender}, about ${Math.round(track.median_age)}, ${track.first_s.toFixed(1)}-${track.last_s.toFixed(1)} s`);
    option.value = String(track.track);
    return option;
  }));
  if (shown && shown.trackId !== null) picker.value = String(shown.trackId); // the face charted
  picker.disabled = results.tracks.length < 2;
  picker.parentElement.hidden = !results.tracks.length;
}

/** The face most often seen: the chart's first choice. */
function mainTrack(results) {
  let best = null;
  for (const track of results.tracks) if (!best || track.frames > best.frames) best = track;
  return best ? best.track : null;
}

function chooseTrack(trackId) {
  shown.trackId = trackId;
  $("chart-track").value = String(trackId);
  renderTimeline();
  const frames = selectableFrames();
  const keep = shown.selected && frames.includes(shown.selected);
  selectFrame(keep ? shown.selected : frames[0]);
}

/** Show a finished job's results; ``logged`` false for a kept job opened again. */
function showResults(state, logged = true) {
  const results = state.results;
  job.results = results;
  const jobUrl = state.links.self;
  shown = { results, jobUrl, trackId: mainTrack(results), selected: null };
  $("video-results").hidden = false;
  $("video-results-heading").textContent = `Results: ${state.name || job.name || "video"}`;
  renderTracks(results);
  renderTrackPicker(results);
  renderLegend();
  $("video-csv").href = state.links.csv;
  $("video-json").href = state.links.json;
  if (!results.summary.tracks) showMessage("No face found in the video.", "warning");
  renderTimeline();
  const image = selectFrame(selectableFrames()[0]);
  if (!logged) return;
  const name = state.name || job.name || "Video";
  const text = results.summary.tracks
    ? `${count(results.summary.tracks, "face track")}, mostly ${results.summary.dominant_emotion}`
    : "No face found";
  image.addEventListener("load", () => addEntry({
    kind: "video", title: name, text, thumb: thumbnail(image, image.naturalWidth, image.naturalHeight),
  }), { once: true });
  image.addEventListener("error", () => addEntry({ kind: "video", title: name, text, thumb: "" }), { once: true });
}

function chartClick(event) {
  if (!shown) return;
  const chart = $("video-chart");
  const rect = chart.getBoundingClientRect();
  const time = chartGeometry(chart, shown.results).time(event.clientX - rect.left);
  selectFrame(nearestFrame(selectableFrames(), time));
}

function chartKey(event) {
  if (!shown) return;
  const frames = selectableFrames();
  const index = Math.max(0, frames.indexOf(shown.selected));
  const next = {
    ArrowRight: frames[Math.min(frames.length - 1, index + 1)],
    ArrowLeft: frames[Math.max(0, index - 1)],
    Home: frames[0],
    End: frames[frames.length - 1],
  }[event.key];
  if (!next) return;
  event.preventDefault();
  selectFrame(next);
}

/** A job this tab was following before a reload: follow it again. */
function resumeSavedJob() {
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(SAVED_JOB) || "null");
  } catch (error) {
    sessionStorage.removeItem(SAVED_JOB);
  }
  if (!saved || typeof saved.url !== "string" || !saved.url.startsWith("/api/v1/videos/")) return;
  followJob(saved.url, saved.name || "the video");
  job.resumed = true;
  setProgress(0, "checking on the video job…");
  poll();
}

/** "Open" on a kept video in "Kept on the server": its results again, on the Video tab. */
async function openKept(event) {
  const { url, name } = event.detail;
  try {
    const response = await fetchWithin(url, { credentials: "same-origin" }, STATUS_WAIT_MS);
    if (!response.ok) throw new Error(await errorMessage(response));
    const state = await response.json();
    if (state.status !== "done") throw new Error(`it is ${state.status}`);
    $("tab-video").click();
    if (!job.url && !job.xhr) $("video-progress-row").hidden = true; // an earlier job's line
    showResults(state, false);
    const heading = $("video-results-heading");
    heading.tabIndex = -1;
    heading.focus();
    showMessage(`Showing the results of ${name}.`);
  } catch (error) {
    showMessage(`Could not open ${name}: ${error.message}`, "error");
  }
}

export function initVideo() {
  resumeSavedJob();
  $("video-form").addEventListener("submit", submit);
  $("video-cancel").addEventListener("click", cancel);
  document.addEventListener("faceinsight:deleted", forgetDeleted);
  document.addEventListener("faceinsight:open-video", openKept);
  $("video-chart").addEventListener("click", chartClick);
  $("video-chart").addEventListener("keydown", chartKey);
  $("chart-track").addEventListener("change", (event) => chooseTrack(Number(event.target.value)));
  document.addEventListener("faceinsight:theme", drawChart);
  document.addEventListener("faceinsight:tab", drawChart);
  let pending = false;
  window.addEventListener("resize", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      drawChart();
    });
  });
}
