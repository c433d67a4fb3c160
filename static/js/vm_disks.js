// The Disks and media tab: when a job of this VM finishes (its badge in the jobs card turns to a final
// state), the disks and CD-ROM cards are re-read from the server, which alone knows what changed.
(function () {
  "use strict";
  const jobs = document.getElementById("jobs");
  const cards = ["disks-card", "cdrom-card"].map(function (id) { return document.getElementById(id); })
    .filter(Boolean);
  if (!jobs || !cards.length || !window.ui) return;
  const FINAL = ["succeeded", "failed", "cancelled"];
  new MutationObserver(function (changes) {
    const done = changes.some(function (c) {
      const el = c.target;
      return el.dataset && el.dataset.role === "state" && FINAL.indexOf(el.dataset.state) >= 0;
    });
    if (done) window.ui.refreshFromServer(cards);
  }).observe(jobs, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
})();
