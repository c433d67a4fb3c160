// The Disks and media tab: when a job of this VM finishes (any kind: a disk, a CD-ROM, a delete), the
// disks and CD-ROM cards are re-read from the server, which alone knows what changed.
(function () {
  "use strict";
  const cards = ["disks-card", "cdrom-card"].map(function (id) { return document.getElementById(id); })
    .filter(Boolean);
  if (!cards.length || !window.ui) return;
  window.ui.refreshOnJobs(cards, function () { return true; });
})();
