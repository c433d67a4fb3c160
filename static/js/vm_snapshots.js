// The Snapshots tab: when a snapshot job of this VM finishes, re-read the list and the form from the
// server (only it knows the tree, the current one and whether the limit is reached). See docs/snapshots.md.
(function () {
  "use strict";
  const parts = ["snapshots-card", "snapshot-new-card"].map(function (id) { return document.getElementById(id); })
    .filter(Boolean);
  if (!parts.length || !window.ui) return;
  window.ui.refreshOnJobs(parts, function (kind) { return kind.indexOf("vm.snapshot-") === 0; });
})();
