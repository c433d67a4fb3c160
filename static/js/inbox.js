// The approvals inbox, live: decided requests lose their buttons and checkbox; new ones are announced.
// Bulk approval: tick requests (or all) and send the one form with the chosen host.
(function () {
  "use strict";
  const inbox = document.getElementById("inbox");
  if (!inbox) return;
  const form = document.getElementById("inbox-approve");
  const all = document.getElementById("inbox-select-all");
  const count = document.getElementById("inbox-selected-count");
  const bulk = document.getElementById("inbox-approve-selected");

  function boxes() {
    return Array.from(inbox.querySelectorAll("input[data-inbox-select]")).filter(function (box) {
      return !box.disabled;
    });
  }

  function update() {
    if (!form) return;
    const ticked = boxes().filter(function (box) { return box.checked; }).length;
    bulk.disabled = ticked === 0;
    count.textContent = ticked ? count.dataset.text.replace("{n}", ticked) : "";
    if (all) {
      all.checked = ticked > 0 && ticked === boxes().length;
      all.indeterminate = ticked > 0 && ticked < boxes().length;
    }
  }

  if (all) {
    // Only useful with JavaScript, so it is hidden in the markup and shown here.
    document.getElementById("inbox-select-all-row").hidden = false;
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
      update();
    });
  }
  inbox.addEventListener("change", function (event) {
    if (event.target.matches("input[data-inbox-select]")) update();
  });
  update();

  document.addEventListener("kvm:message", function (event) {
    const msg = event.detail;
    if (msg.type !== "request.state") return;
    const card = inbox.querySelector('[data-inbox-request="' + msg.request + '"]');
    if (card && msg.state !== "pending") {
      card.querySelectorAll("[data-decide]").forEach(function (el) { el.hidden = true; });
      const box = card.querySelector("input[data-inbox-select]");
      if (box) { box.checked = false; box.disabled = true; }
      update();
    } else if (!card && msg.state === "pending") {
      document.getElementById("inbox-new").hidden = false;
    }
  });
})();
