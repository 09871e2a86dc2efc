// Visit page: refresh the photographs section while AI grading is in progress, and toggle heatmaps.
// No inline scripts (Content Security Policy); works without JavaScript too (reload shows the same).
(function () {
  "use strict";
  var POLL_MS = 3000;

  function section() { return document.getElementById("visit-images"); }

  function poll() {
    var current = section();
    if (!current || current.dataset.polling !== "true") { return; }
    fetch(current.dataset.liveUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html.trim();
        var fresh = holder.firstElementChild;
        if (fresh) { section().replaceWith(fresh); }
      })
      .catch(function () { /* transient network error: try again on the next tick */ })
      .finally(function () { window.setTimeout(poll, POLL_MS); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-heatmap-toggle]");
    if (!button) { return; }
    var img = button.closest(".image-card").querySelector("img.fundus");
    var showing = button.getAttribute("aria-pressed") === "true";
    img.src = showing ? img.dataset.photoSrc : img.dataset.heatmapSrc;
    button.setAttribute("aria-pressed", showing ? "false" : "true");
    button.textContent = showing ? "Show heatmap" : "Show photograph";
  });

  window.setTimeout(poll, POLL_MS);
})();
