// The Images and ISOs page at fleet size: a filter box over every list of hosts, and one "Copy to…"
// dialog for all images instead of a disclosure per row.
//
// Without JS each row keeps its <details> with its own copy form (same endpoint, same `hosts` field),
// so the page works as it is; this script only replaces those disclosures with buttons. It removes
// them from the rows, too: their host lists would otherwise make every row match any host name typed
// in the table's search box. Values only, never markup.
(function () {
  "use strict";

  function matches(label, words) {
    const name = (label.dataset.hostName || "").toLocaleLowerCase();
    return words.every(function (w) { return name.indexOf(w) !== -1; });
  }

  function wirePicker(picker) {
    const input = picker.querySelector("[data-host-filter]");
    const none = picker.querySelector("[data-host-none]");
    if (!input) return;
    input.hidden = false;
    function filter() {
      const words = input.value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      picker.querySelectorAll(".host-choice").forEach(function (label) {
        const match = matches(label, words);
        label.hidden = !match;
        if (match) shown += 1;
      });
      if (none) none.hidden = shown > 0;
    }
    input.addEventListener("input", filter);
    // Enter in a filter box filters; it must not submit the form around it.
    input.addEventListener("keydown", function (event) { if (event.key === "Enter") event.preventDefault(); });
    picker.filter = function (text) { input.value = text; filter(); };
  }
  document.querySelectorAll("[data-host-picker]").forEach(wirePicker);

  const dialog = document.getElementById("copy-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return; // no <dialog>: the disclosures stay
  const form = dialog.querySelector("form");
  const title = document.getElementById("copy-dialog-title");
  const picker = dialog.querySelector("[data-host-picker]");
  const submit = form.querySelector("button[type=submit]");
  const boxes = dialog.querySelectorAll("input[name=hosts]");
  let opener = null;

  function updateSubmit() {
    submit.disabled = !Array.prototype.some.call(boxes, function (box) { return box.checked; });
  }
  boxes.forEach(function (box) { box.addEventListener("change", updateSubmit); });
  dialog.querySelector("[data-close]").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { if (opener) opener.focus(); });

  function openFor(button) {
    opener = button;
    form.setAttribute("action", button.dataset.action);
    title.textContent = title.dataset.titleTemplate.split("%(name)s").join(button.dataset.imageName);
    const ready = (button.dataset.ready || "").split(",").filter(Boolean);
    boxes.forEach(function (box) { box.checked = false; });
    dialog.querySelectorAll("[data-has-it]").forEach(function (el) { el.hidden = ready.indexOf(el.dataset.hasIt) === -1; });
    if (picker.filter) picker.filter("");
    updateSubmit();
    dialog.showModal();
    const input = picker.querySelector("[data-host-filter]");
    if (input) input.focus();
  }

  document.querySelectorAll("details[data-copy-to]").forEach(function (details) {
    const rowForm = details.querySelector("form");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small secondary";
    button.textContent = details.querySelector("summary").textContent;
    button.setAttribute("aria-haspopup", "dialog");
    button.dataset.action = rowForm.getAttribute("action");
    button.dataset.imageName = details.dataset.imageName;
    button.dataset.ready = details.dataset.ready || "";
    button.addEventListener("click", function () { openFor(button); });
    details.replaceWith(button);
  });
})();
