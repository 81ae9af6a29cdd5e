// Applies the remembered (or the system's) theme before the page paints, to avoid a flash.
(function () {
  "use strict";
  var theme = null;
  try { theme = window.localStorage.getItem("faceinsight-theme"); } catch (e) { theme = null; }
  if (theme !== "light" && theme !== "dark") {
    theme = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  document.documentElement.setAttribute("data-theme", theme);
})();
