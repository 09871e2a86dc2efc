// Compact site menu at phone width: the links fold behind a "Menu" button (without JavaScript
// they simply stay visible). No inline scripts (Content Security Policy).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector("header.site .menu-toggle");
    var menu = document.getElementById("site-menu");
    if (!button || !menu) { return; }
    button.hidden = false;
    button.closest("nav").classList.add("has-menu-toggle");
    button.addEventListener("click", function () {
      var open = menu.classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  });
})();
