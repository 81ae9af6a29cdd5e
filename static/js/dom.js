// The page's DOM helpers, written once for every mode.

/** The element with this id (every id the scripts use is in templates/index.html). */
export function $(id) {
  return document.getElementById(id);
}

/** Move the keyboard to a heading that is not otherwise focusable (after the content the
 * focus was on went away, or to bring a screen reader to new results). */
export function focusHeading(heading) {
  heading.tabIndex = -1;
  heading.focus();
}
