/* The daily log (templates/patient/log.html), progressive enhancement only: with JavaScript
   off the page is the whole form and works as it is. With it on:
   - focus moves to the error summary when there is one (role=alert announces it either way);
   - a progress line ("5 of 20 answered", or "Question 3 of 21" one at a time) and bar;
   - "One question at a time": one question shown, Back and Next buttons, Next moves focus to
     the next question. Tapping a 0-4 answer moves on by itself, announced ("Moving on to
     question 4"); Back always goes back. The last screen has the note and "Save my day":
     Enter in an earlier question moves on like Next instead of saving the day before the
     patient has seen the note.
   The red-flag box and the day choice stay on screen in both modes. */
(function () {
  "use strict";
  var form = document.querySelector("form.log-form");
  if (!form) { return; }

  var summary = document.getElementById("error-summary");
  var steps = Array.prototype.slice.call(form.querySelectorAll(".log-step"));
  var tools = document.getElementById("log-tools");
  var text = document.getElementById("log-progress-text");
  var bar = document.getElementById("log-progress-bar");
  var toggle = document.getElementById("one-at-a-time");
  var nav = document.getElementById("step-nav");
  var back = document.getElementById("step-back");
  var next = document.getElementById("step-next");
  var announce = document.getElementById("step-announce");
  var STORE = "taper.log.oneAtATime";
  var required = steps.filter(function (s) { return !s.hasAttribute("data-optional"); });
  var current = 0;
  var stepMode = false;
  var timer = null;

  function answered(step) {
    if (step.querySelector("input[type=radio]:checked")) { return true; }
    var fields = step.querySelectorAll("input[type=text], textarea");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value.trim() !== "" && !step.querySelector("input[type=radio]")) {
        return true;
      }
    }
    return false;
  }

  function showProgress() {
    if (stepMode) {
      text.textContent = "Question " + (current + 1) + " of " + steps.length;
      bar.max = steps.length;
      bar.value = current + 1;
      return;
    }
    var done = required.filter(answered).length;
    text.textContent = done + " of " + required.length + " answered";
    bar.max = required.length;
    bar.value = done;
  }

  function focusQuestion(step) {
    var target = step.querySelector("legend") || step.querySelector("label");
    if (target && target.tagName === "LABEL") {
      target = document.getElementById(target.htmlFor) || target;
    } else if (target) {
      target.setAttribute("tabindex", "-1");
    }
    if (target) { target.focus(); }
  }

  function show(index, moveFocus) {
    current = Math.max(0, Math.min(index, steps.length - 1));
    steps.forEach(function (step, i) { step.hidden = stepMode && i !== current; });
    back.disabled = current === 0;
    next.hidden = current === steps.length - 1;
    showProgress();
    if (moveFocus) { focusQuestion(steps[current]); }
  }

  function setMode(on, remember) {
    stepMode = on;
    if (timer) { clearTimeout(timer); timer = null; }
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    form.classList.toggle("one-at-a-time-on", on);
    nav.hidden = !on;
    if (remember) {
      try { window.localStorage.setItem(STORE, on ? "1" : "0"); } catch (e) { /* private mode */ }
    }
    // One at a time starts at the first question with a problem, else the first unanswered.
    var start = 0;
    if (on) {
      var problem = form.querySelector(".log-step.has-error");
      var firstOpen = required.filter(function (s) { return !answered(s); })[0];
      start = steps.indexOf(problem || firstOpen || steps[0]);
    }
    show(start < 0 ? 0 : start, false);
    if (!on) { steps.forEach(function (step) { step.hidden = false; }); }
  }

  function stepOf(element) {
    var step = element && element.closest ? element.closest(".log-step") : null;
    // A section's heading (hidden one at a time) leads to the section's first question.
    if (!step && element && element.classList &&
        element.classList.contains("section-heading")) {
      var sibling = element.nextElementSibling;
      while (sibling && !sibling.classList.contains("log-step")) {
        sibling = sibling.nextElementSibling;
      }
      step = sibling;
    }
    return step ? steps.indexOf(step) : -1;
  }

  tools.hidden = false;
  toggle.addEventListener("click", function () { setMode(!stepMode, true); });
  back.addEventListener("click", function () {
    if (timer) { clearTimeout(timer); timer = null; }
    show(current - 1, true);
  });
  next.addEventListener("click", function () {
    if (timer) { clearTimeout(timer); timer = null; }
    show(current + 1, true);
  });

  form.addEventListener("change", function () { showProgress(); });
  form.addEventListener("input", function () { if (!stepMode) { showProgress(); } });

  // A tap (not the arrow keys, which also change the choice) on a 0-4 answer moves on.
  form.addEventListener("click", function (event) {
    var input = event.target;
    if (!stepMode || event.detail === 0 || input.type !== "radio") { return; }
    var step = input.closest(".scale-item");
    if (!step || steps.indexOf(step) !== current || current === steps.length - 1) { return; }
    var number = current + 2;
    announce.textContent = "Answer " + input.value + " chosen. Moving on to question " +
      number + ". Press Back to change it.";
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(function () { timer = null; show(current + 1, true); }, 700);
  });

  // Enter in a field of a question before the last (sleep hours, "how much") would save the
  // whole form with the note never shown: one at a time, it moves on like Next.
  form.addEventListener("keydown", function (event) {
    var field = event.target;
    if (!stepMode || event.key !== "Enter" || field.tagName !== "INPUT" ||
        current === steps.length - 1 || stepOf(field) !== current) { return; }
    event.preventDefault();
    if (timer) { clearTimeout(timer); timer = null; }
    show(current + 1, true);
  });

  // Moving anywhere outside the question just answered (the red-flag box, "I need help now")
  // cancels the move on: the page never pulls focus away from where the patient went.
  document.addEventListener("focusin", function (event) {
    if (!timer || (steps[current] && steps[current].contains(event.target))) { return; }
    clearTimeout(timer);
    timer = null;
    announce.textContent = "";
  });

  // A link in the error summary (or any link to a question) shows that question first.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href^='#']") : null;
    if (!link || !stepMode) { return; }
    var target = document.getElementById(link.getAttribute("href").slice(1));
    var index = stepOf(target);
    if (index >= 0) { show(index, false); }
  });

  var remembered = null;
  try { remembered = window.localStorage.getItem(STORE); } catch (e) { /* private mode */ }
  setMode(remembered === "1", false);
  if (summary) { summary.focus(); }
})();
