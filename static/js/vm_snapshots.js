// The Snapshots tab: when a snapshot job of this VM finishes, re-read the list and the form from the
// server (only it knows the tree, the current one and whether the limit is reached). The fleet socket
// (app.js) re-emits every job message as "kvm:message". See docs/snapshots.md.
(function () {
  "use strict";
  const root = document.getElementById("vm");
  if (!root) return;
  const done = {};
  document.addEventListener("kvm:message", function (event) {
    const msg = event.detail;
    if (msg.type !== "job.progress" || !msg.finished || done[msg.job]) return;
    if (msg.target !== "vms.virtualmachine:" + root.dataset.vmId || (msg.kind || "").indexOf("vm.snapshot-") !== 0) return;
    done[msg.job] = true;
    window.ui.refreshFromServer([document.getElementById("snapshots-card"), document.getElementById("snapshot-new-card")]);
  });
})();
