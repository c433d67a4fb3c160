// The Network tab (vms/views/vm_network.py): addresses arrive live from the watcher (`vm.addresses`,
// by MAC), and the interfaces table is re-read from the server when a NIC job of this VM finishes.
(function () {
  "use strict";
  const root = document.getElementById("vm");
  const card = document.getElementById("network-card");
  if (!root || !card || root.dataset.gone === "1") return;
  const uuid = root.dataset.vm;
  const kinds = (card.dataset.jobKinds || "").split(" ");

  function showAddresses(byMac) {
    card.querySelectorAll("tr[data-mac]").forEach(function (row) {
      const cell = row.querySelector('[data-role="addresses"]');
      const found = byMac[row.dataset.mac];
      if (!cell || found === undefined) return;
      cell.replaceChildren();
      if (!found.length) { cell.textContent = cell.dataset.none || "—"; return; }
      found.forEach(function (address, i) {
        if (i) cell.appendChild(document.createTextNode(", "));
        const code = document.createElement("code");
        code.textContent = address;
        cell.appendChild(code);
      });
    });
  }

  // One re-read at a time, and one more after it when asked meanwhile: answers that overtake each
  // other must never leave an older table on the page.
  let busy = false;
  let again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    window.ui.refreshFromServer([card]).finally(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }

  function onMessage(msg) {
    if (msg.type === "vm.addresses" && msg.vm === uuid) showAddresses(msg.addresses || {});
    else if (msg.type === "job.progress" && msg.target === "vms.virtualmachine:" + root.dataset.vmId &&
             kinds.indexOf(msg.kind) >= 0 && msg.finished) {
      refresh();
    }
  }
  // On every (re)connect, re-read the table once: a job that finished while the page loaded, or while
  // the socket was down, sent its message to nobody.
  let connected = false;
  KVM.socket(root.dataset.wsPath, {
    open: function () {
      const unfinished = "#jobs [data-state='queued'], #jobs [data-state='running'], #jobs [data-state='retrying']";
      if (connected || document.querySelector(unfinished)) refresh();
      connected = true;
    },
    message: onMessage,
  });
})();
