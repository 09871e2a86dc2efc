// The AI heatmap view: opacity slider and side-by-side option (the layer lies on the photograph
// in one frame, so toggling never shifts it). No inline scripts or styles (Content Security
// Policy). Event delegation: the visit page replaces its images section while grading runs.
(function () {
  "use strict";

  document.addEventListener("input", function (event) {
    var slider = event.target.closest("[data-heat-opacity]");
    if (!slider) { return; }
    var layer = slider.closest("[data-heat-view]").querySelector("[data-heat-layer]");
    layer.style.opacity = String(Number(slider.value) / 100);
  });

  document.addEventListener("change", function (event) {
    var side = event.target.closest("[data-heat-side]");
    if (!side) { return; }
    var view = side.closest("[data-heat-view]");
    view.classList.toggle("side-by-side", side.checked);
    view.querySelector(".heat-plain").hidden = !side.checked;
  });
})();
