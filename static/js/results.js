// A finished video job's results: the table of face tracks, the face picker, the emotion chart
// (chart.js) with its data as a table, the selected frame with its boxes, the downloads and
// the session log line. The chart and the table select a frame by click, tap or keyboard.
import { drawChart, renderLegend, timeAt, trackPoints } from "./chart.js";
import { $ } from "./dom.js";
import { drawFaces, drawSized } from "./draw.js";
import { TAB_CHANGED, THEME_CHANGED, listen } from "./events.js";
import { addEntry } from "./log.js";
import { EMOTIONS, count, el, faceSummary, percent, showMessage, thumbnail } from "./util.js";

// The results on screen: {results, jobUrl, trackId, selected}; redrawn when the theme changes.
let shown = null;

/** The URL of the job whose results are on screen, or null. */
export function shownJobUrl() {
  return shown ? shown.jobUrl : null;
}

export function hideResults() {
  $("video-results").hidden = true;
  shown = null;
  $("video-frame").hidden = true;
  $("video-frame-caption").textContent = "";
}

function redrawChart() {
  if (shown) drawChart($("video-chart"), shown);
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
  redrawChart();
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

/**
 * Show a finished job's results.
 * @param state the job's status answer (status "done", with its results and links)
 * @param fallbackName the file's name where the answer has none
 * @param logged false for a kept job opened again (it is not logged twice)
 */
export function showResults(state, fallbackName, logged = true) {
  const results = state.results;
  const jobUrl = state.links.self;
  shown = { results, jobUrl, trackId: mainTrack(results), selected: null };
  $("video-results").hidden = false;
  $("video-results-heading").textContent = `Results: ${state.name || fallbackName || "video"}`;
  renderTracks(results);
  renderTrackPicker(results);
  renderLegend($("chart-legend"));
  $("video-csv").href = state.links.csv;
  $("video-json").href = state.links.json;
  if (!results.summary.tracks) showMessage("No face found in the video.", "warning");
  renderTimeline();
  const image = selectFrame(selectableFrames()[0]);
  if (!logged) return;
  const name = state.name || fallbackName || "Video";
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
  selectFrame(nearestFrame(selectableFrames(), timeAt(chart, shown.results, event.clientX - rect.left)));
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

/** Wire the chart, the face picker, and the chart's redraws (theme, tab, window size). */
export function initResults() {
  $("video-chart").addEventListener("click", chartClick);
  $("video-chart").addEventListener("keydown", chartKey);
  $("chart-track").addEventListener("change", (event) => chooseTrack(Number(event.target.value)));
  listen(THEME_CHANGED, redrawChart);
  listen(TAB_CHANGED, redrawChart);
  let pending = false;
  window.addEventListener("resize", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      redrawChart();
    });
  });
}
