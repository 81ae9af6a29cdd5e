// A recorded live session on the Webcam tab: a table of the faces followed (the columns a
// video's tracks have), the emotion chart per face (chart.js, as for a video) and the CSV and
// JSON downloads, made in the page as Blob URLs (recording.js builds the timeline and files).
import { drawChart, redrawOnViewChange, renderLegend } from "./chart.js";
import { $ } from "./dom.js";
import { count, el } from "./util.js";

// The timeline on screen: {session, trackId, urls}; redrawn when the theme or the size changes.
let shown = null;

function redraw() {
  if (shown) drawChart($("recording-chart"), { results: shown.session, trackId: shown.trackId, selected: null });
}

function renderFaces(session) {
  $("recording-faces").querySelector("tbody").replaceChildren(...session.tracks.map((track) => {
    const row = el("tr");
    row.append(
      el("th", null, `face ${track.track}`),
      el("td", null, `${track.first_s.toFixed(1)}-${track.last_s.toFixed(1)} s (${count(track.frames, "frame")})`),
      el("td", null, `${Math.round(track.median_age)} (group ${track.age_group})`),
      el("td", null, `${track.gender} (${Math.round(track.gender_probability * 100)} %)`),
      el("td", null, track.dominant_emotion),
    );
    row.firstChild.setAttribute("scope", "row");
    return row;
  }));
  const s = session.summary;
  $("recording-summary").textContent = s.tracks
    ? `${session.duration_s.toFixed(1)} s recorded, ${count(s.frames_analyzed, "live reading")}; `
      + `${count(s.tracks, "face")} followed (numbered in the order first seen); mostly ${s.dominant_emotion}.`
    : `${session.duration_s.toFixed(1)} s recorded: ${count(s.frames_analyzed, "live reading")}, no face in view.`;
}

function renderPicker(session) {
  const picker = $("recording-face");
  picker.replaceChildren(...session.tracks.map((track) => {
    const seen = `${track.first_s.toFixed(1)}-${track.last_s.toFixed(1)} s`;
    const option = el("option", null, `face ${track.track}: ${track.gender}, about ${Math.round(track.median_age)}, ${seen}`);
    option.value = String(track.track);
    return option;
  }));
  picker.disabled = session.tracks.length < 2;
  picker.parentElement.hidden = !session.tracks.length;
}

/** The face seen in the most readings: the chart's first choice. */
function mainTrack(session) {
  let best = null;
  for (const track of session.tracks) if (!best || track.frames > best.frames) best = track;
  return best ? best.track : null;
}

/** Point a download link at a file made here (a Blob URL, freed by hideTimeline). */
function offer(link, text, type, name) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  link.href = url;
  link.download = name;
  return url;
}

/**
 * Show a recorded session.
 * @param session the timeline (recording.js): {duration_s, frames, tracks, summary}
 * @param files {base, csv, json}: the files' name without extension and their contents
 */
export function showTimeline(session, files) {
  hideTimeline();
  shown = { session, trackId: mainTrack(session), urls: [] };
  $("recording-section").hidden = false; // shown first: the chart is drawn at its shown size
  renderFaces(session);
  renderPicker(session);
  if (shown.trackId !== null) $("recording-face").value = String(shown.trackId);
  renderLegend($("recording-legend"));
  shown.urls.push(offer($("recording-csv"), files.csv, "text/csv", `${files.base}.csv`),
    offer($("recording-json"), files.json, "application/json", `${files.base}.json`));
  redraw();
}

/** Hide the recorded session and free its files. */
export function hideTimeline() {
  if (shown) for (const url of shown.urls) URL.revokeObjectURL(url);
  shown = null;
  $("recording-section").hidden = true;
  for (const id of ["recording-csv", "recording-json"]) $(id).href = "#";
}

/** Wire the face picker and the chart's redraws (theme, tab, window size). */
export function initTimeline() {
  $("recording-face").addEventListener("change", (event) => {
    if (!shown) return;
    shown.trackId = Number(event.target.value);
    redraw();
  });
  redrawOnViewChange(redraw);
}
