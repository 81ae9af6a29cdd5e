// Recording a live session. While Record is on, each live answer's readings of each followed
// face are kept in this page, as a timeline shaped like a video's results ({frames, tracks,
// summary}: a frame per answer, a track per followed face), so that chart.js draws it as it
// draws a video's and the CSV has the video CSV's columns. Recording sends nothing: the live
// frames are read by the server for the overlay anyway, and the timeline never leaves the page
// unless downloaded. timeline.js shows it when the recording stops.
import { $, focusHeading } from "./dom.js";
import { LIVE_CHANGED, LIVE_READINGS, listen } from "./events.js";
import { addEntry } from "./log.js";
import { hideTimeline, initTimeline, showTimeline } from "./timeline.js";
import { mirroredFrame } from "./snapshot.js";
import { EMOTIONS, count, showMessage } from "./util.js";

const MAX_SECONDS = 600; // a recording stops by itself after 10 minutes...
const MAX_READINGS = 20000; // ...or this many face readings (a crowd fills it sooner)
const TICK_MS = 250; // the shown clock's refresh
// The readings the overlay steadies (tracking.js, Track.view): kept as shown beside the raw ones.
const SHOWN = ["age", "age_range", "age_group", "gender", "gender_probability", "emotion", "emotion_scores"];

// Each column of the video CSV with where its value is in a frame's face record (a dotted
// path), rendered into the page by the server (faceinsight/web/pages.py, csv_columns): the
// live CSV has the video CSV's layout without the page knowing how a face is split into columns.
const CSV_COLUMNS = JSON.parse(document.body.dataset.csvColumns);

const state = {
  live: false, // live readings run: Record is offered
  recording: null, // {startedAt: Date, start: ms, frames: [], readings: n} while recording
  timer: 0,
};

/** "01:05" for 65 s. */
function clock(seconds) {
  const whole = Math.floor(seconds);
  return `${String(Math.floor(whole / 60)).padStart(2, "0")}:${String(whole % 60).padStart(2, "0")}`;
}

function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function showState() {
  const { recording } = state;
  const button = $("record-toggle");
  button.disabled = !state.live && !recording;
  button.textContent = recording ? "Stop recording" : "Record";
  button.classList.toggle("recording", Boolean(recording));
  const status = $("record-status");
  status.hidden = !recording;
  if (recording) status.textContent = `Recording… ${clock((performance.now() - recording.start) / 1000)}`;
}

function tick() {
  if (state.recording && performance.now() - state.recording.start >= MAX_SECONDS * 1000) {
    stopRecording(`it reached its limit of ${MAX_SECONDS / 60} minutes`);
  } else {
    showState();
  }
}

function startRecording() {
  hideTimeline(); // a new recording replaces the last one
  state.recording = { startedAt: new Date(), start: performance.now(), frames: [], readings: 0 };
  clearInterval(state.timer);
  state.timer = setInterval(tick, TICK_MS);
  showState();
  showMessage("Recording the live readings in this page; press “Stop recording” to see the timeline.");
}

/**
 * End the recording and show its timeline.
 * @param reason why it ended, when not by the user ("it reached its limit of 10 minutes")
 */
function stopRecording(reason = "") {
  const recording = state.recording;
  if (!recording) return;
  const button = $("record-toggle");
  const hadFocus = document.activeElement === button;
  state.recording = null;
  clearInterval(state.timer);
  showState();
  const session = timelineOf(recording, reason);
  showTimeline(session, {
    base: fileBase(recording.startedAt), csv: sessionCsv(session), json: JSON.stringify(session, null, 1),
  });
  if (hadFocus && button.disabled) focusHeading($("recording-heading")); // the focus is not lost
  const what = `${count(session.summary.readings, "reading")} of ${count(session.tracks.length, "face")}`
    + ` over ${clock(session.duration_s)}`;
  if (reason) showMessage(`Recording stopped: ${reason}. Kept ${what}.`, "warning");
  else showMessage(`Recording stopped: ${what}.`);
  addEntry({ kind: "recording", title: "Live recording", text: what, thumb: cameraThumbnail() });
}

/** The camera's view as the preview shows it, small, for the session log ("" once it is off). */
function cameraThumbnail() {
  const video = $("camera-video");
  return video.videoWidth ? mirroredFrame(video, 96).canvas.toDataURL("image/jpeg", 0.7) : "";
}

/** Forget the recording and its timeline (Clear session). */
export function clearRecording() {
  state.recording = null;
  clearInterval(state.timer);
  showState();
  hideTimeline();
}

/** One followed face's reading: the answer's own (as the API gave it, box in the preview's
 * pixels as seen) under the face's follow id as `track`, and what the overlay showed as `shown`. */
function reading(face) {
  const { raw } = face;
  const shown = Object.fromEntries(SHOWN.map((name) => [name, face[name]]));
  shown.age = round(shown.age, 1);
  shown.gender_probability = round(shown.gender_probability, 4);
  shown.emotion_scores = Object.fromEntries(EMOTIONS.map((name) => [name, round(face.emotion_scores[name], 4)]));
  return { track: face.id, ...raw, box: raw.box.map(Math.round), shown };
}

function onReadings(event) {
  const recording = state.recording;
  if (!recording) return;
  const { time, sourceFrame, faces } = event.detail;
  const frame = recording.frames.length;
  recording.frames.push({
    frame, source_frame: sourceFrame === null ? frame : sourceFrame,
    time_s: round(Math.max(0, time - recording.start) / 1000, 3), faces: faces.map(reading),
  });
  recording.readings += faces.length;
  if (recording.readings >= MAX_READINGS) stopRecording(`it reached its limit of ${MAX_READINGS} readings`);
}

function onLiveChanged(event) {
  state.live = event.detail.on;
  if (!state.live) stopRecording("the live readings stopped");
  showState();
}

function mean(values) {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2;
}

/** Each emotion's mean score over some readings. */
function meanScores(faces) {
  return Object.fromEntries(EMOTIONS.map((name) => [name, round(mean(faces.map((f) => f.emotion_scores[name])), 4)]));
}

function topEmotion(scores) {
  return EMOTIONS.reduce((a, b) => (scores[b] > scores[a] ? b : a));
}

function femaleProbability(face) {
  return face.gender === "female" ? face.gender_probability : 1 - face.gender_probability;
}

/**
 * One face over the recording, as a video's track is summarised (faceinsight/video/analysis.py
 * summarise_track): median age, gender by the mean P(female), the mean scores' top emotion.
 * @param track the face's follow id
 * @param items [{time_s, face}] for each answer that read it
 */
function summariseFace(track, items) {
  const faces = items.map((item) => item.face);
  const age = round(median(faces.map((face) => face.age)), 1);
  const female = mean(faces.map(femaleProbability));
  const scores = meanScores(faces);
  // The age group is the server's rule (faceinsight.labels): that of the reading nearest the median.
  const nearest = faces.reduce((a, b) => (Math.abs(b.age - age) < Math.abs(a.age - age) ? b : a));
  return {
    track, frames: items.length, first_s: items[0].time_s, last_s: items[items.length - 1].time_s,
    median_age: age, age_group: nearest.age_group, gender: female >= 0.5 ? "female" : "male",
    gender_probability: round(Math.max(female, 1 - female), 4),
    dominant_emotion: topEmotion(scores), emotion_scores: scores,
  };
}

/** The recording as the JSON download gives it: frames, a summary per face, and the whole. */
function timelineOf(recording, reason) {
  const byTrack = new Map();
  for (const frame of recording.frames) {
    for (const face of frame.faces) {
      if (!byTrack.has(face.track)) byTrack.set(face.track, []);
      byTrack.get(face.track).push({ time_s: frame.time_s, face });
    }
  }
  const tracks = [...byTrack].sort((a, b) => a[0] - b[0]).map(([track, items]) => summariseFace(track, items));
  const faces = recording.frames.flatMap((frame) => frame.faces);
  return {
    source: "live", started: recording.startedAt.toISOString(),
    duration_s: round((performance.now() - recording.start) / 1000, 1), stopped_by: reason || "the user",
    frames: recording.frames, tracks,
    summary: {
      frames_analyzed: recording.frames.length,
      frames_with_faces: recording.frames.filter((frame) => frame.faces.length).length,
      tracks: tracks.length, readings: faces.length,
      dominant_emotion: faces.length ? topEmotion(meanScores(faces)) : null,
      median_age: faces.length ? round(median(faces.map((f) => f.age)), 1) : null,
    },
  };
}

/** The value at a dotted path ("box.0") of a record, or "" where it has none. */
function valueAt(record, path) {
  const value = path.split(".").reduce((part, key) => (part == null ? undefined : part[key]), record);
  return value == null ? "" : value;
}

function csvCell(value) {
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The timeline as CSV: the video CSV's columns (a row per face per frame, an empty row for a
 * frame without faces; `track` is the face's follow id), then the same reading columns as the
 * overlay showed them, named `shown_<column>`.
 * @param session the timeline (timelineOf)
 */
export function sessionCsv(session) {
  const shown = CSV_COLUMNS.filter(([, path]) => SHOWN.includes(path.split(".")[0]))
    .map(([name, path]) => [`shown_${name}`, `shown.${path}`]);
  const columns = [...CSV_COLUMNS, ...shown];
  const lines = [columns.map(([name]) => csvCell(name)).join(",")];
  for (const frame of session.frames) {
    const meta = { ...frame, faces: undefined };
    const records = frame.faces.length ? frame.faces.map((face) => ({ ...meta, ...face })) : [meta];
    for (const record of records) lines.push(columns.map(([, path]) => csvCell(valueAt(record, path))).join(","));
  }
  return `${lines.join("\n")}\n`;
}

/** "faceinsight-live-2026-12-06-201503": the recording's start, local time. */
function fileBase(date) {
  const two = (n) => String(n).padStart(2, "0");
  return `faceinsight-live-${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}-`
    + `${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`;
}

export function initRecording() {
  $("record-toggle").addEventListener("click", () => {
    if (state.recording) stopRecording();
    else if (state.live) startRecording();
  });
  listen(LIVE_READINGS, onReadings);
  listen(LIVE_CHANGED, onLiveChanged);
  initTimeline();
  $("record-limit").textContent = `${MAX_SECONDS / 60} minutes`;
  showState();
}
