// Video mode, the job's life: upload with progress, the server's analysis followed to its end
// (polled, retried, resumed after a reload), cancel, and a kept job opened again. Its results
// are shown by results.js. A new upload leaves the previous results on screen until its own
// results replace them.
import { $, focusHeading } from "./dom.js";
import { DELETED, OPEN_VIDEO, STORED, announce, listen } from "./events.js";
import { hideResults, initResults, showResults, shownJobUrl } from "./results.js";
import { clearMessage, deleteOnServer, errorMessage, fetchWithin, showMessage } from "./util.js";

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
  url: null, timer: null, xhr: null, listed: false, failingSince: null, wait: POLL_MS,
  sent: false, // the upload's body has all left: the server may be making the job already
  cancelled: false, // Cancel pressed then: the job is deleted as soon as the server names it
  resumed: false, // followed again after a reload: the form is shown the job's own rate
});
const job = noJob();

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
  const onScreen = shownJobUrl();
  if (onScreen && samePath(onScreen, url)) hideResults();
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
    announce(STORED, { stored: true });
  }
  if (state.status === "done") {
    showResults(state, job.name);
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
  announce(STORED, { stored: true }); // the kept list
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
    showResults(state, name, false);
    focusHeading($("video-results-heading"));
    showMessage(`Showing the results of ${name}.`);
  } catch (error) {
    showMessage(`Could not open ${name}: ${error.message}`, "error");
  }
}

export function initVideo() {
  resumeSavedJob();
  $("video-form").addEventListener("submit", submit);
  $("video-cancel").addEventListener("click", cancel);
  listen(DELETED, forgetDeleted);
  listen(OPEN_VIDEO, openKept);
  initResults();
}
