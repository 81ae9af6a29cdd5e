// The session log: the last results of this browser tab, newest first, with thumbnails.
// Kept in sessionStorage only (gone when the tab closes or "Clear session" is pressed).
import { $ } from "./dom.js";
import { el } from "./util.js";

const KEY = "faceinsight-log";
const MAX_ENTRIES = 30;

function load() {
  try {
    const entries = JSON.parse(window.sessionStorage.getItem(KEY) || "[]");
    return Array.isArray(entries) ? entries : [];
  } catch (e) {
    return [];
  }
}

function save(entries) {
  try {
    window.sessionStorage.setItem(KEY, JSON.stringify(entries));
  } catch (e) {
    /* storage full or disabled: the log still shows this page's entries */
  }
}

let entries = load();

function render() {
  const list = $("session-log");
  list.replaceChildren();
  for (const entry of entries) {
    const item = el("li", "log-entry");
    item.dataset.kind = entry.kind;
    const img = el("img");
    img.alt = "";
    if (typeof entry.thumb === "string" && entry.thumb.startsWith("data:image/")) img.src = entry.thumb;
    const text = el("div");
    text.append(el("div", "entry-title", entry.title),
      el("div", "entry-text", entry.text),
      el("div", "entry-text muted", new Date(entry.time).toLocaleTimeString()));
    item.append(img, text);
    list.append(item);
  }
  $("log-empty").hidden = entries.length > 0;
}

/** Add an entry: {kind, title, text, thumb (data URL)}. */
export function addEntry(entry) {
  entries.unshift({ ...entry, time: Date.now() });
  entries = entries.slice(0, MAX_ENTRIES);
  save(entries);
  render();
}

export function clearLog() {
  entries = [];
  save(entries);
  render();
}

export function initLog() {
  render();
}
