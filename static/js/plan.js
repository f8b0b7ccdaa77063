/* The plan editor, in place (progressive enhancement: without this file every button posts
   back to the server and the page comes back at the same place).

   - "Add more steps" adds one empty row below the last, numbered as the server numbers rows
     (steps-N-start, ...), and moves focus to its first field.
   - "Check the steps" asks the server (the same checks as saving) and shows each problem
     beside its field; the result is announced.
   - "Fill the start dates" fills start dates only, from the first typed step's date, exactly
     as the server's plan_input.fill_start_dates does. It never touches a dose, split or note. */
(function () {
  "use strict";

  var form = document.getElementById("plan-editor");
  if (!form || !window.fetch || !window.FormData) { return; }
  var steps = document.getElementById("steps");
  var result = document.getElementById("check-result");
  var maxRows = parseInt(form.getAttribute("data-max-rows"), 10) || 60;
  var ROW_NAME = /^steps-\d+-/;
  var ROW_FIELDS = ["start", "total", "morning", "midday", "evening", "bedtime", "note"];

  function rows() { return steps.querySelectorAll("fieldset.step-row"); }

  function say(text, isError) {
    result.textContent = "";
    var p = document.createElement("p");
    p.textContent = text;
    if (isError) { p.className = "error"; }
    result.appendChild(p);
  }

  /* ---- Add more steps ------------------------------------------------------------------ */

  function renumber(node, index) {
    var prefix = "steps-" + index + "-";
    ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
      node.querySelectorAll("[" + attr + "]").forEach(function (el) {
        var value = el.getAttribute(attr).split(" ").map(function (part) {
          return part.replace(ROW_NAME, prefix);
        }).join(" ");
        el.setAttribute(attr, value);
      });
    });
  }

  function emptyRow(row) {
    row.querySelectorAll(".error, .js-error, .dose-confirm, .js-confirm").forEach(function (el) {
      el.parentNode.removeChild(el);
    });
    row.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
    row.querySelectorAll("input, textarea").forEach(function (el) {
      el.value = "";
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
      el.removeAttribute("value");
      if (el.tagName === "TEXTAREA") { el.textContent = ""; }
    });
    row.querySelectorAll(".hint[id]").forEach(function (hint) {
      var input = hint.parentNode.querySelector("input, textarea");
      if (input) { input.setAttribute("aria-describedby", hint.id); }
    });
    row.querySelectorAll("details").forEach(function (el) { el.removeAttribute("open"); });
  }

  function addRow() {
    var all = rows();
    if (all.length >= maxRows) {
      say("A plan can have at most " + maxRows + " steps.", true);
      return;
    }
    var last = all[all.length - 1];
    var row = last.cloneNode(true);
    var index = all.length; // rows are numbered from 0 in names, from 1 for people
    renumber(row, index);
    emptyRow(row);
    row.id = "step-" + (index + 1);
    row.querySelector("legend").textContent = "Step " + (index + 1);
    all.forEach(function (r) { r.classList.remove("is-new"); });
    row.classList.add("is-new");
    last.parentNode.insertBefore(row, last.nextSibling);
    var first = row.querySelector("input, textarea");
    if (first) { first.focus(); }
  }

  /* ---- Check the steps ----------------------------------------------------------------- */

  function clearChecks() {
    form.querySelectorAll(".js-error").forEach(function (el) {
      var input = document.getElementById(el.getAttribute("data-for"));
      if (input) {
        input.removeAttribute("aria-invalid");
        var rest = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
          return id && id !== el.id;
        });
        if (rest.length) { input.setAttribute("aria-describedby", rest.join(" ")); }
        else { input.removeAttribute("aria-describedby"); }
      }
      el.parentNode.removeChild(el);
    });
  }

  function markField(id, message) {
    var input = document.getElementById(id);
    if (!input) { return false; }
    var note = document.createElement("p");
    note.className = "error js-error";
    note.id = id + "-check";
    note.setAttribute("data-for", id);
    note.textContent = message;
    input.parentNode.insertBefore(note, input);
    input.setAttribute("aria-invalid", "true");
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    described.push(note.id);
    input.setAttribute("aria-describedby", described.join(" "));
    return true;
  }

  /* A dose above the usual maximum needs "this dose is right", as the server page asks it:
     a box whose value is the total it was shown beside (never ticked here). */
  function confirmLabel(total) {
    return "Yes, " + total + " " + (form.getAttribute("data-unit") || "mg") + " a day is right";
  }

  function askConfirm(id, ask) {
    var mine = document.getElementById(id + "-box");
    if (mine) { // asked before: now about this total, unticked if the total changed
      var old = document.getElementById(id);
      if (old.value !== ask.total) { old.checked = false; old.value = ask.total; }
      document.getElementById(id + "-error").textContent = ask.message;
      mine.querySelector("label").textContent = confirmLabel(ask.total);
      return true;
    }
    if (document.getElementById(id)) { return markField(id, ask.message); }
    var total = document.getElementById(id.replace(/confirm_dose$/, "total"));
    if (!total) { return false; }
    var box = document.createElement("div");
    box.className = "field dose-confirm has-error js-confirm";
    box.id = id + "-box";
    var text = document.createElement("p");
    text.className = "error";
    text.id = id + "-error";
    text.textContent = ask.message;
    var input = document.createElement("input");
    input.type = "checkbox";
    input.id = id;
    input.name = id;
    input.value = ask.total;
    input.setAttribute("aria-describedby", text.id);
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = confirmLabel(ask.total);
    box.appendChild(text);
    box.appendChild(input);
    box.appendChild(label);
    var field = total.closest(".field");
    field.parentNode.insertBefore(box, field.nextSibling);
    return true;
  }

  function showAnswer(answer) {
    clearChecks();
    // A "this dose is right" box asked here stays while it is ticked or still asked.
    form.querySelectorAll(".js-confirm").forEach(function (box) {
      var input = box.querySelector("input");
      if (!input.checked && !answer.confirm[input.id]) { box.parentNode.removeChild(box); }
    });
    var count = 0;
    var unplaced = answer.general.slice();
    Object.keys(answer.fields).forEach(function (id) {
      count += 1;
      if (!markField(id, answer.fields[id])) { unplaced.push(answer.fields[id]); }
    });
    Object.keys(answer.confirm).forEach(function (id) {
      count += 1;
      if (!askConfirm(id, answer.confirm[id])) { unplaced.push(answer.confirm[id].message); }
    });
    count += answer.general.length;
    result.textContent = "";
    var p = document.createElement("p");
    if (answer.ok) {
      p.textContent = "No problems found in the " + answer.steps + " step" +
        (answer.steps === 1 ? "" : "s") + " as typed. Nothing is saved yet.";
      result.appendChild(p);
      return;
    }
    p.className = "error";
    p.textContent = count + " problem" + (count === 1 ? "" : "s") +
      " found: each is shown beside its field. Nothing is saved yet.";
    result.appendChild(p);
    if (unplaced.length) {
      var list = document.createElement("ul");
      unplaced.forEach(function (message) {
        var item = document.createElement("li");
        item.textContent = message;
        list.appendChild(item);
      });
      result.appendChild(list);
    }
  }

  function check(button) {
    var token = form.querySelector("input[name=csrf_token]");
    say("Checking the steps…", false);
    fetch(form.getAttribute("data-check-url"), {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": token ? token.value : "" }
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(showAnswer).catch(function () {
      // The server's own check, as without JavaScript.
      form.setAttribute("data-no-js", "1");
      if (form.requestSubmit) { form.requestSubmit(button); } else { button.click(); }
    });
  }

  /* ---- Fill the start dates ------------------------------------------------------------ */

  function fieldOf(row, name) {
    return row.querySelector("[name$='-" + name + "']");
  }

  function typed(row) {
    return ROW_FIELDS.some(function (name) {
      var el = fieldOf(row, name);
      return el && el.value.trim() !== "";
    });
  }

  function isoDay(text) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
    if (!m) { return null; }
    var day = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
    return day.getUTCDate() === +m[3] ? day : null;
  }

  function fillDates() {
    clearChecks();
    var daysInput = form.querySelector("[name=step_days]");
    var text = daysInput.value.trim();
    var days = /^\d+$/.test(text) ? parseInt(text, 10) : 0;
    if (days < 1 || days > 365) {
      markField(daysInput.id, "Enter how many days each step lasts, 1 to 365.");
      daysInput.focus();
      return;
    }
    var all = Array.prototype.slice.call(rows());
    var filled = all.filter(typed);
    if (!filled.length) {
      say("Type the first step's start date first.", true);
      return;
    }
    var firstStart = fieldOf(filled[0], "start");
    var start = isoDay(firstStart.value);
    if (!start) {
      markField(firstStart.id, "Type this step's start date: the later ones follow from it.");
      firstStart.focus();
      return;
    }
    var later = filled.slice(1);
    if (!later.length) { later = all.slice(all.indexOf(filled[0]) + 1); }
    later.forEach(function (row, i) {
      var day = new Date(start.getTime() + (i + 1) * days * 86400000);
      fieldOf(row, "start").value = day.toISOString().slice(0, 10);
    });
    say("Start dates filled for " + later.length + " step" + (later.length === 1 ? "" : "s") +
      ", " + days + " day" + (days === 1 ? "" : "s") + " apart. Check them; every dose is yours to type.",
      false);
  }

  // Enter in "Each step lasts (days)" fills the dates (never a dose) rather than checking.
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.id === "step_days" && !form.getAttribute("data-no-js")) {
      event.preventDefault();
      fillDates();
    }
  });

  form.addEventListener("click", function (event) {
    var button = event.target.closest("input[type=submit], button");
    if (!button || form.getAttribute("data-no-js")) { return; }
    if (button.name === "add_rows") {
      if (!rows().length) { return; } // no row to copy: the server adds them
      event.preventDefault();
      addRow();
    }
    else if (button.name === "check") { event.preventDefault(); check(button); }
    else if (button.name === "fill_dates") { event.preventDefault(); fillDates(); }
  });
})();
