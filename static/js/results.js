// A finished video job's results: the table of people (tracks joined by the server; the face
// tracks themselves for results stored before people), the person picker, the emotion chart
// (chart.js) with its data as a table, the selected frame with its boxes, the downloads and
// the session log line. The chart and the table select a frame by click, tap or keyboard.
import { drawChart, redrawOnViewChange, renderLegend, timeAt, trackPoints } from "./chart.js";
import { $ } from "./dom.js";
import { drawFaces, drawSized } from "./draw.js";
import { addEntry } from "./log.js";
import { EMOTIONS, count, el, faceSummary, percent, showMessage, thumbnail } from "./util.js";

// The results on screen: {results, jobUrl, trackId, selected, field}; trackId is a person's
// number when field is "person" (a track's for older results); redrawn when the theme changes.
let shown = null;

/** Who the page lists and charts: the people, or the face tracks of results stored before them. */
function subjects(results) {
  return results.people || results.tracks;
}

function idField(results) {
  return results.people ? "person" : "track";
}

/** "Person 2", or "Face #2" for a track of results stored before people. */
function nameOf(field, id) {
  return field === "person" ? `Person ${id}` : `Face #${id}`;
}

/** A face's label on the frame: its person (and track), or its track alone in older results. */
function faceLabel(face) {
  return face.person ? `person ${face.person} (#${face.track})` : `face #${face.track}`;
}

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
  const points = trackPoints(shown.results, shown.trackId, shown.field);
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
        { names: frame.faces.map((f) => (f.person ? `P${f.person}` : `#${f.track}`)) });
    });
    canvas.dataset.frame = String(frame.frame);
    const faces = frame.faces.length
      ? frame.faces.map((f) => `${faceLabel(f)}: ${faceSummary(f)}`).join("; ") : "no face";
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
  const { results, trackId, field } = shown;
  const points = trackPoints(results, trackId, field);
  $("video-timeline-caption").textContent = points.length
    ? `${nameOf(field, trackId)}: emotion at each analysed frame (top three scores)` : "No face was found.";
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

/** A person's face cut from the sampled frame its thumbnail names, on a small canvas. */
function personThumbnail(jobUrl, results, person) {
  const canvas = el("canvas", "person-thumb");
  canvas.width = canvas.height = 64;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `Person ${person.person}'s face`);
  const image = new Image();
  image.addEventListener("load", () => {
    const scale = image.naturalWidth / results.video.width; // frames are kept at most 640 px wide
    const [x, y, w, h] = person.thumbnail.box.map((v) => v * scale);
    const side = Math.max(w, h) * 1.2;
    canvas.getContext("2d").drawImage(image, x + w / 2 - side / 2, y + h / 2 - side / 2, side, side, 0, 0, 64, 64);
    canvas.dataset.drawn = "true";
  });
  image.src = `${jobUrl}/frames/${person.thumbnail.frame}.jpg`;
  return canvas;
}

/** "2 people (5 face tracks)", or "5 face tracks" for results stored before people. */
function whoWasSeen(summary) {
  const tracks = count(summary.tracks, "face track");
  if (summary.people === undefined) return tracks;
  return `${summary.people === 1 ? "1 person" : `${summary.people} people`} (${tracks})`;
}

function renderPeople(results, jobUrl) {
  const field = idField(results);
  const body = $("video-tracks").querySelector("tbody");
  body.replaceChildren(...subjects(results).map((who) => {
    const row = el("tr");
    const head = el("th", null);
    if (who.thumbnail) head.append(personThumbnail(jobUrl, results, who));
    head.append(nameOf(field, who[field]));
    if (who.tracks) head.append(el("span", "person-tracks", `tracks ${who.tracks.map((t) => `#${t}`).join(", ")}`));
    head.setAttribute("scope", "row");
    row.append(
      head,
      el("td", null, `${who.first_s.toFixed(1)}-${who.last_s.toFixed(1)} s (${count(who.frames, "frame")})`),
      el("td", null, `${Math.round(who.median_age)} (group ${who.age_group})`),
      el("td", null, `${who.gender} (${Math.round(who.gender_probability * 100)} %)`),
      el("td", null, who.dominant_emotion),
    );
    return row;
  }));
  const s = results.summary;
  const alone = (s.people === undefined ? s.tracks : s.people) === 1;
  $("video-summary").textContent = s.tracks
    ? `${s.frames_analyzed} frames analysed, faces in ${s.frames_with_faces}; ${whoWasSeen(s)}; `
      // One age for several people is nobody's: each person's is in the table above.
      + `dominant emotion ${s.dominant_emotion}${alone ? `, median age ${Math.round(s.median_age)}` : ""}.`
    : `${s.frames_analyzed} frames analysed; no face found in the video.`;
}

function renderTrackPicker(results) {
  const field = idField(results);
  const picker = $("chart-track");
  picker.replaceChildren(...subjects(results).map((who) => {
    const option = el("option", null, `${nameOf(field, who[field])}: ${who.gender}, about `
      + `${Math.round(who.median_age)}, ${who.first_s.toFixed(1)}-${who.last_s.toFixed(1)} s`);
    option.value = String(who[field]);
    return option;
  }));
  if (shown && shown.trackId !== null) picker.value = String(shown.trackId); // the face charted
  picker.disabled = subjects(results).length < 2;
  picker.parentElement.hidden = !subjects(results).length;
}

/** The person (or track) most often seen: the chart's first choice. */
function mainTrack(results) {
  let best = null;
  for (const who of subjects(results)) if (!best || who.frames > best.frames) best = who;
  return best ? best[idField(results)] : null;
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
  shown = { results, jobUrl, trackId: mainTrack(results), selected: null, field: idField(results) };
  $("video-results").hidden = false;
  $("video-results-heading").textContent = `Results: ${state.name || fallbackName || "video"}`;
  renderPeople(results, jobUrl);
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
    ? `${whoWasSeen(results.summary)}, mostly ${results.summary.dominant_emotion}`
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
  redrawOnViewChange(redrawChart);
}
