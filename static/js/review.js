// Review page: the reading form's behaviour (the photographs are in the image viewer, viewer.js).
// No inline scripts or styles (Content Security Policy): behaviour via data attributes and classes.
(function () {
  "use strict";

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
