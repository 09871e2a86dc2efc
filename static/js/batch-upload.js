// Batch upload of a visit's photographs (templates/screening/visit_upload.html).
// Each dropped file is sent to the check endpoint (validation, laterality, what its name says,
// a preview); nothing is stored until "Upload all", which sends every file with its tags in one
// request. The files stay in this page between the two, so a warning never loses them.
// No inline scripts (Content Security Policy).
(function () {
  "use strict";
  var form = document.getElementById("batch-upload");
  if (!form) { return; }
  var rowsList = document.getElementById("batch-rows");
  var template = document.getElementById("batch-row");
  var input = document.getElementById("batch-files");
  var zone = form.querySelector("[data-drop-zone]");
  var status = document.getElementById("batch-status");
  var submit = document.getElementById("batch-submit");
  var maxFiles = parseInt(form.dataset.maxFiles, 10);
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var rows = [];
  var nextId = 0;
  var sending = false;

  function eyeName(value) { return value === "right" ? "right eye" : "left eye"; }

  function post(url, data) {
    return fetch(url, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" }
    });
  }

  function addFiles(files) {
    Array.prototype.forEach.call(files, function (file) {
      if (rows.length >= maxFiles) {
        say("At most " + maxFiles + " files in one batch; “" + file.name + "” was not added.", true);
        return;
      }
      var row = { id: nextId++, file: file, check: null, node: template.content.firstElementChild.cloneNode(true) };
      row.node.dataset.rowId = String(row.id);
      row.node.querySelector(".file-name").textContent = file.name;
      row.node.querySelector(".preview").alt = "Preview of " + file.name;
      rows.push(row);
      rowsList.appendChild(row.node);
      check(row);
    });
    refresh();
  }

  function check(row) {
    var data = new FormData();
    data.append("file", row.file, row.file.name);
    post(form.dataset.checkUrl, data)
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (answer) {
        if (!answer.ok) { throw new Error(answer.body.error || "The check failed."); }
        applyCheck(row, answer.body);
      })
      .catch(function (error) {
        row.check = { ok: false, messages: [error.message || "The check failed; remove the file and add it again."] };
        render(row);
      })
      .finally(function () { sortRows(); refresh(); });
  }

  function applyCheck(row, body) {
    row.check = body;
    var node = row.node;
    if (body.ok) {
      node.querySelector(".preview").src = body.preview;
      if (body.eye_from_name) { node.querySelector("[data-eye]").value = body.eye_from_name; }
      node.querySelector("[data-field]").value = body.field_from_name || "macula";
    }
    render(row);
  }

  function render(row) {
    var node = row.node;
    var result = row.check;
    var checkText = node.querySelector("[data-check]");
    var warning = node.querySelector("[data-warning]");
    var fate = node.querySelector("[data-fate]");
    if (!result) { return; }
    if (!result.ok) {
      node.dataset.state = "refused";
      checkText.textContent = "Cannot be uploaded: " + result.messages.join(" ") + " Remove it to upload the others.";
      warning.hidden = true;
      return;
    }
    var eye = node.querySelector("[data-eye]").value;
    var mismatch = eye && result.looks_like !== "unsure" && result.looks_like !== eye;
    checkText.textContent = result.laterality;
    warning.hidden = !mismatch;
    if (mismatch) {
      node.querySelector("[data-warning-text]").textContent =
        "declared " + eyeName(eye) + ", but the photograph looks like a " + eyeName(result.looks_like) + ".";
    } else {
      node.querySelector("[data-confirm]").checked = false;
    }
    var confirmed = node.querySelector("[data-confirm]").checked;
    node.dataset.state = mismatch && !confirmed ? "warning" : eye ? "ready" : "untagged";
    if (!mismatch) { fate.textContent = ""; }
  }

  function ready() {
    return rows.length > 0 && rows.every(function (row) {
      return row.node.dataset.state === "ready";
    });
  }

  function refresh() {
    submit.disabled = sending || !ready();
    if (sending) { return; }
    var counts = { checking: 0, refused: 0, warning: 0, untagged: 0 };
    rows.forEach(function (row) {
      var state = row.check ? row.node.dataset.state : "checking";
      if (state in counts) { counts[state] += 1; }
    });
    if (!rows.length) { say(""); return; }
    var parts = [rows.length + " photograph" + (rows.length === 1 ? "" : "s")];
    if (counts.checking) { parts.push(counts.checking + " being checked"); }
    if (counts.untagged) { parts.push(counts.untagged + " without an eye"); }
    if (counts.warning) { parts.push(counts.warning + " to confirm or correct"); }
    if (counts.refused) { parts.push(counts.refused + " that cannot be uploaded"); }
    say(parts.join(" · ") + (ready() ? ". Ready to upload." : "."), counts.refused > 0);
  }

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  // Macula-centred before disc-centred, right eye before left, then in the order added.
  function rank(row) {
    var node = row.node;
    var field = node.querySelector("[data-field]").value === "disc" ? 1 : 0;
    var eye = node.querySelector("[data-eye]").value === "left" ? 1 : 0;
    return [field, eye, row.id];
  }

  function sortRows() {
    var focused = document.activeElement;
    rows.sort(function (a, b) {
      var ra = rank(a), rb = rank(b);
      for (var i = 0; i < ra.length; i++) { if (ra[i] !== rb[i]) { return ra[i] - rb[i]; } }
      return 0;
    });
    rows.forEach(function (row) { rowsList.appendChild(row.node); });
    if (focused && rowsList.contains(focused)) { focused.focus(); }
  }

  function rowOf(element) {
    var id = element.closest(".batch-row").dataset.rowId;
    return rows.filter(function (row) { return String(row.id) === id; })[0];
  }

  rowsList.addEventListener("change", function (event) {
    var row = rowOf(event.target);
    if (event.target.matches("[data-eye]")) { row.node.querySelector("[data-confirm]").checked = false; }
    render(row);
    if (event.target.matches("[data-field], [data-eye]")) { sortRows(); }
    refresh();
  });

  rowsList.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) { return; }
    var row = rowOf(button);
    if (button.matches("[data-remove]")) {
      rows.splice(rows.indexOf(row), 1);
      row.node.remove();
    } else if (button.matches("[data-switch]")) {
      row.node.querySelector("[data-eye]").value = row.check.looks_like;
      row.node.querySelector("[data-confirm]").checked = false;
      render(row);
      sortRows();
    }
    refresh();
  });

  input.addEventListener("change", function () { addFiles(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) { addFiles(event.dataTransfer.files); }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!ready() || sending) { return; }
    var data = new FormData();
    data.append("form-TOTAL_FORMS", String(rows.length));
    data.append("form-INITIAL_FORMS", "0");
    rows.forEach(function (row, i) {
      var node = row.node;
      data.append("form-" + i + "-file", row.file, row.file.name);
      data.append("form-" + i + "-eye", node.querySelector("[data-eye]").value);
      data.append("form-" + i + "-field", node.querySelector("[data-field]").value);
      if (node.querySelector("[data-confirm]").checked) { data.append("form-" + i + "-eye_confirmed", "on"); }
    });
    sending = true;
    submit.textContent = "Uploading…";
    refresh();
    say("Uploading " + rows.length + " photographs…");
    var sent = rows.slice();
    post(form.action, data)
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (answer) {
        if (answer.ok) { window.location.assign(answer.body.redirect); return; }
        sending = false;
        submit.textContent = "Upload all";
        showFates(sent, answer.body.files || []);
        refresh();
        say(answer.body.error || "Nothing was saved.", true);
      })
      .catch(function () {
        sending = false;
        submit.textContent = "Upload all";
        refresh();
        say("The connection failed before the server answered. Check the visit page; uploading the same files again is safe (identical photographs are kept once).", true);
      });
  });

  function showFates(sent, files) {
    files.forEach(function (fate) {
      var row = sent[fate.key];
      if (!row || fate.status === "ok") { return; }
      var list = row.node.querySelector("[data-fate]");
      list.textContent = "";
      fate.messages.forEach(function (message) {
        var item = document.createElement("li");
        item.textContent = message;
        list.appendChild(item);
      });
      if (fate.status === "needs_confirmation") {
        row.check.looks_like = fate.looks_like;
        row.node.querySelector("[data-confirm]").checked = false;
      } else if (fate.status === "refused") {
        row.check = { ok: false, messages: fate.messages };
      }
      render(row);
    });
  }
})();
