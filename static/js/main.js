// Wires the page: tabs, theme, privacy toggle, clear session, and the three modes.
import { cameraViewChanged, clearSnapshot, initCamera } from "./camera.js";
import { initKept, refreshKept } from "./kept.js";
import { clearLog, initLog } from "./log.js";
import { clearPhotos, initPhoto } from "./photo.js";
import { clearRecording, initRecording } from "./recording.js";
import { clearVideo, initVideo } from "./video.js";
import { $ } from "./dom.js";
import { TAB_CHANGED, THEME_CHANGED, announce } from "./events.js";
import { clearMessage, count, postSession, showMessage } from "./util.js";

const THEME_KEY = "faceinsight-theme";
const TAB_KEY = "faceinsight-tab";

function remember(key, value) {
  try {
    window.localStorage.setItem(key, value);
  } catch (e) {
    /* private mode: the choice just is not remembered */
  }
}

function recall(key) {
  try {
    return window.localStorage.getItem(key);
  } catch (e) {
    return null;
  }
}

/** The ARIA tabs pattern: one tab in the Tab order, arrows/Home/End move and select. */
function initTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  function select(tab, focus) {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      $(other.getAttribute("aria-controls")).hidden = !selected;
    }
    if (focus) tab.focus();
    remember(TAB_KEY, tab.id);
    cameraViewChanged(); // the camera runs only on the Webcam tab
    announce(TAB_CHANGED); // e.g. the video chart sizes itself
  }
  for (const tab of tabs) {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (event) => {
      const index = tabs.indexOf(tab);
      const next = {
        ArrowRight: tabs[(index + 1) % tabs.length],
        ArrowLeft: tabs[(index - 1 + tabs.length) % tabs.length],
        Home: tabs[0],
        End: tabs[tabs.length - 1],
      }[event.key];
      if (!next) return;
      event.preventDefault();
      select(next, true);
    });
  }
  const saved = tabs.find((tab) => tab.id === recall(TAB_KEY));
  if (saved) select(saved, false);
}

function applyTheme(theme) {
  document.documentElement.setAttribute("data-theme", theme);
  // The name stays "Dark theme" in both themes; aria-pressed says whether it is on.
  $("theme-toggle").setAttribute("aria-pressed", String(theme === "dark"));
}

function initTheme() {
  applyTheme(document.documentElement.getAttribute("data-theme") || "light");
  $("theme-toggle").addEventListener("click", () => {
    const next = document.documentElement.getAttribute("data-theme") === "dark" ? "light" : "dark";
    applyTheme(next);
    announce(THEME_CHANGED); // canvases redraw in the new colours
    remember(THEME_KEY, next);
  });
}

function initPrivacy() {
  const toggle = $("keep-toggle");
  toggle.addEventListener("change", async () => {
    const wanted = toggle.checked;
    try {
      const result = await postSession("/session/privacy", { keep: wanted });
      toggle.checked = result.keep;
      const hours = Number(document.body.dataset.retentionHours || "24");
      showMessage(result.keep
        ? `Your captures and videos will be kept on the server until you clear the session (at most ${hours} h).`
        : "Nothing you send will be kept after it is analysed.");
      refreshKept();
    } catch (error) {
      toggle.checked = !wanted;
      showMessage(`Could not change the setting: ${error.message}`, "error");
    }
  });
  $("clear-session").addEventListener("click", async () => {
    const question = "Clear this session? This deletes the session log, every capture and video kept "
      + "on the server for it, and turns “Keep my captures” off.";
    if (!window.confirm(question)) return;
    try {
      const result = await postSession("/session/clear", {});
      clearLog();
      clearVideo();
      clearPhotos();
      clearSnapshot();
      clearRecording();
      toggle.checked = false;
      refreshKept();
      showMessage(`Session cleared: ${count(result.captures, "kept capture")} and `
        + `${count(result.videos, "video job")} deleted.`);
    } catch (error) {
      showMessage(`Could not clear the session: ${error.message}`, "error");
    }
  });
}

function initSecureOriginNotice() {
  // Browsers give the camera only to https pages and to localhost/127.0.0.1.
  if (!window.isSecureContext) $("insecure-warning").hidden = false;
}

initTheme();
initLog();
initPrivacy();
initSecureOriginNotice();
initCamera();
initRecording();
initPhoto();
initVideo();
initKept();
initTabs();
clearMessage();
