// Wires the page: tabs, theme, privacy toggle, clear session, and the three modes.
import { initCamera } from "./camera.js";
import { clearLog, initLog } from "./log.js";
import { initPhoto } from "./photo.js";
import { clearVideo, initVideo } from "./video.js";
import { clearMessage, postSession, showMessage } from "./util.js";

const THEME_KEY = "faceinsight-theme";

function $(id) {
  return document.getElementById(id);
}

function initTabs() {
  const tabs = document.querySelectorAll('[role="tab"]');
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      for (const other of tabs) {
        const selected = other === tab;
        other.setAttribute("aria-selected", String(selected));
        $(other.getAttribute("aria-controls")).hidden = !selected;
      }
    });
  }
}

function applyTheme(theme) {
  document.documentElement.setAttribute("data-theme", theme);
  $("theme-toggle").textContent = theme === "dark" ? "Light theme" : "Dark theme";
}

function initTheme() {
  applyTheme(document.documentElement.getAttribute("data-theme") || "light");
  $("theme-toggle").addEventListener("click", () => {
    const next = document.documentElement.getAttribute("data-theme") === "dark" ? "light" : "dark";
    applyTheme(next);
    document.dispatchEvent(new Event("faceinsight:theme")); // canvases redraw in the new colours
    try {
      window.localStorage.setItem(THEME_KEY, next);
    } catch (e) {
      /* private mode: the theme just is not remembered */
    }
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
    } catch (error) {
      toggle.checked = !wanted;
      showMessage(`Could not change the setting: ${error.message}`, "error");
    }
  });
  $("clear-session").addEventListener("click", async () => {
    try {
      const result = await postSession("/session/clear", {});
      clearLog();
      clearVideo();
      for (const id of ["snapshot-result", "photo-cards", "live-faces"]) $(id).replaceChildren();
      $("photo-stage").hidden = true;
      toggle.checked = false;
      showMessage(`Session cleared: ${result.captures} kept capture(s) and ${result.videos} video job(s) deleted.`);
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
initTabs();
initLog();
initPrivacy();
initSecureOriginNotice();
initCamera();
initPhoto();
initVideo();
clearMessage();
