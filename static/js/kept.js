// "Kept on the server": the session's kept captures and videos (with "Keep my captures" on),
// each deletable.
import { $, focusHeading } from "./dom.js";
import { DELETED, OPEN_VIDEO, STORED, announce, listen } from "./events.js";
import { deleteOnServer, el, showMessage } from "./util.js";

/** After a Delete, keep the keyboard where it was: on the Delete of the row that took the
 * removed row's place (or the one before it), else on the section's heading. */
function refocus(index) {
  const buttons = [...$("kept-list").querySelectorAll("button.kept-delete")];
  const next = buttons[Math.min(index, buttons.length - 1)];
  if (next) next.focus();
  else focusHeading($("kept-heading"));
}

async function remove(item, button) {
  const index = [...$("kept-list").querySelectorAll("button.kept-delete")].indexOf(button);
  const hadFocus = document.activeElement === button;
  button.disabled = true;
  try {
    await deleteOnServer(item.url);
    showMessage(`Deleted the kept ${item.video ? "video" : "capture"} ${item.name}.`);
    announce(DELETED, { url: item.url });
  } catch (error) {
    showMessage(`Could not delete ${item.name}: ${error.message}`, "error");
  }
  await refreshKept();
  if (hadFocus) refocus(index);
}

function render(keep, items) {
  const section = $("kept");
  section.hidden = !keep && !items.length;
  $("kept-empty").hidden = items.length > 0;
  $("kept-list").replaceChildren(...items.map((item) => {
    const row = el("li", "kept-item");
    row.dataset.id = item.id;
    const preview = item.video ? el("div", "kept-video", "Video") : el("img");
    if (!item.video) {
      preview.alt = "";
      preview.loading = "lazy";
      // A kept TIFF (which browsers cannot show) gets a plain tile, not a broken image.
      preview.addEventListener("error", () => preview.replaceWith(el("div", "kept-video", "Photo")), { once: true });
      preview.src = item.url;
    }
    const text = el("div", "kept-text");
    const when = item.created ? new Date(item.created * 1000).toLocaleTimeString() : "";
    const detail = item.video ? `video, ${item.status}${when ? `, ${when}` : ""}` : when;
    text.append(el("div", "entry-title", item.name), el("div", "entry-text muted", detail));
    const actions = el("div", "kept-actions");
    if (item.video && item.status === "done") {
      const open = el("button", "secondary small", "Open");
      open.type = "button";
      open.setAttribute("aria-label", `Open the results of ${item.name}`);
      open.addEventListener("click", () => announce(OPEN_VIDEO, { url: item.url, name: item.name }));
      actions.append(open);
    }
    const button = el("button", "secondary small kept-delete", "Delete");
    button.type = "button";
    button.setAttribute("aria-label", `Delete ${item.name}${when ? `, kept at ${when}` : ""}`);
    button.addEventListener("click", () => remove(item, button));
    actions.append(button);
    row.append(preview, text, actions);
    return row;
  }));
}

/** Reload the list from the server. */
export async function refreshKept() {
  try {
    const response = await fetch("/session/captures", { credentials: "same-origin" });
    if (!response.ok) return;
    const body = await response.json();
    const captures = Array.isArray(body.captures) ? body.captures : [];
    const videos = (Array.isArray(body.videos) ? body.videos : []).map((v) => ({ ...v, video: true }));
    render(Boolean(body.keep), [...videos, ...captures].sort((a, b) => (b.created || 0) - (a.created || 0)));
  } catch (e) {
    /* the list is a convenience: analysis works without it */
  }
}

export function initKept() {
  listen(STORED, (event) => {
    if (event.detail && (event.detail.stored || event.detail.storage_error)) refreshKept();
  });
  refreshKept();
}
