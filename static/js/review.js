// Review page: zoom a photograph to full resolution and toggle the AI heatmap.
// No inline scripts or styles (Content Security Policy): behaviour via data attributes and classes.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var zoom = event.target.closest("[data-zoom-toggle]");
    if (zoom) {
      var frame = zoom.closest(".review-image").querySelector("[data-zoom-frame]");
      var zoomed = frame.classList.toggle("zoomed");
      zoom.setAttribute("aria-pressed", zoomed ? "true" : "false");
      zoom.textContent = zoomed ? "Fit" : "Zoom";
      return;
    }
    var heat = event.target.closest("[data-review-heatmap]");
    if (heat) {
      var img = heat.closest(".review-image").querySelector("img.review-photo");
      var showing = heat.getAttribute("aria-pressed") === "true";
      img.src = showing ? img.dataset.photoSrc : img.dataset.heatmapSrc;
      heat.setAttribute("aria-pressed", showing ? "false" : "true");
      heat.textContent = showing ? "Show heatmap" : "Show photograph";
    }
  });

  // Clicking the photograph itself also toggles zoom.
  document.addEventListener("dblclick", function (event) {
    var frame = event.target.closest("[data-zoom-frame]");
    if (frame) { frame.closest(".review-image").querySelector("[data-zoom-toggle]").click(); }
  });

  // "Why can this eye not be graded?" only while the eye is marked ungradable.
  function showReasons() {
    document.querySelectorAll("[data-when-ungradable]").forEach(function (box) {
      var eye = box.getAttribute("data-when-ungradable");
      var checked = document.querySelector("input[name='" + eye + "-gradable']:checked");
      box.hidden = !checked || checked.value !== "no";
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.name && /-gradable$/.test(event.target.name)) { showReasons(); }
  });

  // Both eyes share one form: Enter in a text field saves that field's eye (the browser's default
  // button would be the first eye's "Agree with AI").
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.target.tagName !== "INPUT") { return; }
    var eyeForm = event.target.closest(".eye-form");
    if (!eyeForm) { return; }
    event.preventDefault();
    eyeForm.querySelector("button[name='eye']").click();
  });

  document.addEventListener("DOMContentLoaded", function () {
    showReasons();
    // A refused save shows the page again: bring the first marked field into view.
    var invalid = document.querySelector(".eye-form .field-error");
    if (invalid) {
      var box = invalid.closest("details");
      if (box) { box.open = true; }
      invalid.closest("fieldset, div, p").scrollIntoView({ block: "center" });
    }
  });
})();
