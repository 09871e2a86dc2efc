// Photograph viewer (templates/screening/_viewer.html): zoom levels, drag to pan with mouse, pen or
// touch (pointer events; two fingers pinch), full screen, red-free and contrast filters, and the
// previous visit's photograph moving with this visit's. Plain JavaScript, no library, no inline
// scripts or styles (Content Security Policy): state lives in data attributes, transforms are set
// through the CSSOM.
(function () {
  "use strict";

  var LEVELS = [1, 1.5, 2, 3, 4, 6, 8];
  var MIN = 1;
  var MAX = 8;

  // A pair (this visit's photograph and the previous visit's) shares one view: scale, and the
  // offset of the image's top-left corner as a fraction of the stage, so a resize keeps the view.
  function state(pair) {
    return {
      scale: parseFloat(pair.dataset.scale || "1"),
      x: parseFloat(pair.dataset.x || "0"),
      y: parseFloat(pair.dataset.y || "0"),
    };
  }

  function clamp(value, low, high) { return Math.min(high, Math.max(low, value)); }

  function apply(pair, scale, x, y) {
    scale = clamp(scale, MIN, MAX);
    x = clamp(x, 1 - scale, 0);
    y = clamp(y, 1 - scale, 0);
    pair.dataset.scale = String(scale);
    pair.dataset.x = String(x);
    pair.dataset.y = String(y);
    var transform = "translate(" + (x * 100) + "%, " + (y * 100) + "%) scale(" + scale + ")";
    pair.querySelectorAll(".viewer-img").forEach(function (img) { img.style.transform = transform; });
    pair.querySelectorAll("[data-viewer-stage]").forEach(function (stage) {
      stage.classList.toggle("zoomed", scale > 1);
    });
    showLevel(pair.closest("[data-viewer]"), scale);
    sharpen(pair);
  }

  // Each photograph starts as its thumbnail; the full photograph replaces it once the stage shows
  // more pixels than the thumbnail has (zoomed, full screen, one eye alone, a high-density screen).
  // The browser keeps showing the thumbnail until the full photograph has arrived.
  function sharpen(pair) {
    var scale = parseFloat(pair.dataset.scale || "1");
    pair.querySelectorAll(".viewer-img[data-full-src]").forEach(function (img) {
      if (img.dataset.sharp) { return; }
      var needed = img.parentElement.clientWidth * (window.devicePixelRatio || 1) * scale;
      var have = img.naturalWidth || 0;
      if (have && needed > have) {
        img.dataset.sharp = "true";
        img.src = img.dataset.fullSrc;
      }
    });
  }

  function sharpenAll() {
    document.querySelectorAll("[data-viewer-pair]").forEach(sharpen);
  }

  // Zoom to `scale` keeping the point (px, py) of the stage (fractions, 0-1) where it is.
  function zoomAt(pair, scale, px, py) {
    var now = state(pair);
    scale = clamp(scale, MIN, MAX);
    var ratio = scale / now.scale;
    apply(pair, scale, px - (px - now.x) * ratio, py - (py - now.y) * ratio);
  }

  function nextLevel(scale, direction) {
    if (direction > 0) {
      for (var i = 0; i < LEVELS.length; i++) { if (LEVELS[i] > scale + 1e-6) { return LEVELS[i]; } }
      return MAX;
    }
    for (var j = LEVELS.length - 1; j >= 0; j--) { if (LEVELS[j] < scale - 1e-6) { return LEVELS[j]; } }
    return MIN;
  }

  function showLevel(viewer, scale) {
    var output = viewer.querySelector("[data-viewer-level]");
    if (output) { output.textContent = (Math.round(scale * 10) / 10) + "×"; }
    viewer.querySelectorAll("[data-viewer-zoom]").forEach(function (button) {
      var level = parseFloat(button.dataset.viewerZoom);
      if (!isNaN(level)) { button.setAttribute("aria-pressed", Math.abs(level - scale) < 1e-6 ? "true" : "false"); }
    });
  }

  function fraction(stage, clientX, clientY) {
    var box = stage.getBoundingClientRect();
    return { x: (clientX - box.left) / box.width, y: (clientY - box.top) / box.height };
  }

  // --- toolbar ---------------------------------------------------------------------------------

  function toolbar(viewer, button) {
    var pairs = viewer.querySelectorAll("[data-viewer-pair]");
    if (button.dataset.viewerZoom) {
      var choice = button.dataset.viewerZoom;
      pairs.forEach(function (pair) {
        var scale = state(pair).scale;
        var target = choice === "in" ? nextLevel(scale, 1) : choice === "out" ? nextLevel(scale, -1) : parseFloat(choice);
        zoomAt(pair, target, 0.5, 0.5);
      });
    } else if (button.dataset.viewerFilter) {
      var on = viewer.classList.toggle(button.dataset.viewerFilter);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    } else if (button.dataset.viewerEyes) {
      var shown = button.dataset.viewerEyes;
      viewer.classList.toggle("only-right", shown === "right");
      viewer.classList.toggle("only-left", shown === "left");
      viewer.querySelectorAll("[data-viewer-eyes]").forEach(function (other) {
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
      });
    } else if (button.hasAttribute("data-viewer-previous")) {
      var hidden = viewer.classList.toggle("hide-previous");
      button.setAttribute("aria-pressed", hidden ? "false" : "true");
    } else if (button.hasAttribute("data-viewer-fullscreen")) {
      toggleFullscreen(viewer);
    }
    sharpenAll();  // a layout change can make the stages larger
  }

  function toggleFullscreen(viewer) {
    if (document.fullscreenElement) { document.exitFullscreen(); return; }
    if (viewer.classList.contains("expanded")) { setExpanded(viewer, false); return; }
    // Browsers without element full screen (iPhone Safari) get the viewer over the whole page.
    if (!viewer.requestFullscreen) { setExpanded(viewer, true); return; }
    viewer.requestFullscreen().catch(function () { setExpanded(viewer, true); });
  }

  function setExpanded(viewer, on) {
    viewer.classList.toggle("expanded", on);
    document.documentElement.classList.toggle("viewer-open", on);
    pressFullscreen(viewer, on);
    sharpenAll();
  }

  function pressFullscreen(viewer, on) {
    var button = viewer.querySelector("[data-viewer-fullscreen]");
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "Exit full screen" : "Full screen";
  }

  document.addEventListener("fullscreenchange", function () {
    document.querySelectorAll("[data-viewer]").forEach(function (viewer) {
      pressFullscreen(viewer, document.fullscreenElement === viewer);
    });
    sharpenAll();
  });
  window.addEventListener("resize", sharpenAll);

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-viewer] .viewer-toolbar button");
    if (button) { toolbar(button.closest("[data-viewer]"), button); }
  });

  // --- pointers: one drags, two pinch ----------------------------------------------------------

  function setUpStage(stage) {
    var pair = stage.closest("[data-viewer-pair]");
    var pointers = new Map();
    var gesture = null;

    function begin() {
      var now = state(pair);
      var points = Array.from(pointers.values());
      if (points.length >= 2) {
        var a = points[0], b = points[1];
        gesture = {
          pinch: true,
          distance: Math.hypot(a.x - b.x, a.y - b.y) || 1,
          scale: now.scale,
        };
      } else if (points.length === 1) {
        gesture = { pinch: false, startX: points[0].x, startY: points[0].y, x: now.x, y: now.y };
      } else {
        gesture = null;
      }
    }

    stage.addEventListener("pointerdown", function (event) {
      if (event.pointerType === "mouse" && event.button !== 0) { return; }
      event.preventDefault();
      stage.focus({ preventScroll: true });
      stage.setPointerCapture(event.pointerId);
      pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      stage.classList.add("dragging");
      begin();
    });

    stage.addEventListener("pointermove", function (event) {
      if (!pointers.has(event.pointerId) || !gesture) { return; }
      pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      var box = stage.getBoundingClientRect();
      if (gesture.pinch) {
        var points = Array.from(pointers.values());
        var a = points[0], b = points[1];
        var centre = fraction(stage, (a.x + b.x) / 2, (a.y + b.y) / 2);
        var scale = gesture.scale * Math.hypot(a.x - b.x, a.y - b.y) / gesture.distance;
        zoomAt(pair, scale, centre.x, centre.y);
      } else {
        var now = state(pair);
        var dx = (event.clientX - gesture.startX) / box.width;
        var dy = (event.clientY - gesture.startY) / box.height;
        apply(pair, now.scale, gesture.x + dx, gesture.y + dy);
      }
    });

    function end(event) {
      if (!pointers.delete(event.pointerId)) { return; }
      if (pointers.size === 0) { stage.classList.remove("dragging"); }
      begin();
    }
    stage.addEventListener("pointerup", end);
    stage.addEventListener("pointercancel", end);

    stage.addEventListener("dblclick", function (event) {
      var point = fraction(stage, event.clientX, event.clientY);
      var scale = state(pair).scale;
      zoomAt(pair, scale >= MAX ? MIN : nextLevel(scale, 1), point.x, point.y);
    });

    // The wheel scrolls the page unless Ctrl (a trackpad pinch) is held or the viewer is full screen.
    stage.addEventListener("wheel", function (event) {
      var viewer = stage.closest("[data-viewer]");
      if (!event.ctrlKey && document.fullscreenElement !== viewer && !viewer.classList.contains("expanded")) { return; }
      event.preventDefault();
      var point = fraction(stage, event.clientX, event.clientY);
      zoomAt(pair, state(pair).scale * Math.exp(-event.deltaY * 0.002), point.x, point.y);
    }, { passive: false });

    stage.addEventListener("keydown", function (event) {
      var now = state(pair);
      var step = 0.1;
      var moves = {
        ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step],
      };
      if (event.key === "+" || event.key === "=") { zoomAt(pair, nextLevel(now.scale, 1), 0.5, 0.5); }
      else if (event.key === "-") { zoomAt(pair, nextLevel(now.scale, -1), 0.5, 0.5); }
      else if (event.key === "0") { apply(pair, 1, 0, 0); }
      else if (moves[event.key] && now.scale > 1) { apply(pair, now.scale, now.x + moves[event.key][0], now.y + moves[event.key][1]); }
      else { return; }
      event.preventDefault();
    });
  }

  function setUp(viewer) {
    viewer.querySelectorAll("[data-viewer-pair]").forEach(function (pair) {
      // Both stages of a pair take this visit's photograph's proportions, so they move together.
      var first = pair.querySelector("[data-viewer-stage]");
      var ratio = parseFloat(first.dataset.width) / parseFloat(first.dataset.height);
      pair.querySelectorAll("[data-viewer-stage]").forEach(function (stage) {
        if (ratio > 0) { stage.style.aspectRatio = String(ratio); }
        setUpStage(stage);
      });
      pair.querySelectorAll(".viewer-img").forEach(function (img) {
        img.addEventListener("load", function () { sharpen(pair); });
      });
      apply(pair, 1, 0, 0);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && viewer.classList.contains("expanded")) { setExpanded(viewer, false); }
    });
  }

  document.querySelectorAll("[data-viewer]").forEach(setUp);
})();
