// Every event the page's scripts send each other, in one place. Each is dispatched on
// `document`; send them with announce() and listen with listen(), never by a bare string.

/** The shown mode tab changed. Sent by main.js (initTabs); no detail. Heard by chart.js
 * (redrawOnViewChange, for the video chart and the recorded timeline's): the chart is drawn
 * again (on a hidden tab it has no size to be drawn at). */
export const TAB_CHANGED = "faceinsight:tab";

/** The light/dark theme changed. Sent by main.js (initTheme); no detail. Heard by chart.js
 * (redrawOnViewChange): the charts are drawn again in the new colours. */
export const THEME_CHANGED = "faceinsight:theme";

/** Something may have been kept on the server. Sent by photo.js and snapshot.js with the
 * analysis answer as detail (its `stored` and `storage_error`), and by video.js with
 * `{stored: true}` when a kept job starts or ends, or a job is cancelled. Heard by kept.js,
 * which reloads "Kept on the server" when `stored` or `storage_error` is set. */
export const STORED = "faceinsight:stored";

/** A kept capture or video was deleted from "Kept on the server". Sent by kept.js; detail
 * `{url}`, the deleted item's URL. Heard by video.js: a job at that URL is no longer
 * followed and its results leave the page. */
export const DELETED = "faceinsight:deleted";

/** "Open" was pressed on a finished kept video. Sent by kept.js; detail `{url, name}`, the
 * job's URL and file name. Heard by video.js, which shows its results on the Video tab. */
export const OPEN_VIDEO = "faceinsight:open-video";

/** Live readings started or stopped (the Live switch, the camera, leaving the tab). Sent by
 * camera.js; detail `{on}`. Heard by recording.js: Record is offered only while live runs, and
 * a recording ends when live does. */
export const LIVE_CHANGED = "faceinsight:live";

/** A live answer was shown. Sent by camera.js; detail `{time, sourceFrame, faces}`: the answer's
 * time (performance.now()), the camera frame it read (null where the browser does not count
 * frames), and the faces this answer read, each as FaceTracker shows it (`id`, the steadied
 * readings, and the answer's own as `raw`). Heard by recording.js, which records them. */
export const LIVE_READINGS = "faceinsight:live-readings";

/**
 * Send one of the events above.
 * @param name the event's name (one of the constants above)
 * @param detail what the event carries (see each event), or nothing
 */
export function announce(name, detail = null) {
  document.dispatchEvent(new CustomEvent(name, { detail }));
}

/**
 * Run a handler on each of one of the events above.
 * @param name the event's name (one of the constants above)
 * @param handler called with the event
 */
export function listen(name, handler) {
  document.addEventListener(name, handler);
}
