// The Network tab (vms/views/vm_network.py): addresses arrive live from the watcher (`vm.addresses`,
// by MAC), and the interfaces table is re-read from the server when a NIC job of this VM finishes.
(function () {
  "use strict";
  const root = document.getElementById("vm");
  const card = document.getElementById("network-card");
  if (!root || !card || !window.ui || root.dataset.gone === "1") return;
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

  // The table is re-read when a NIC job of this VM finishes (or may have finished unseen).
  window.ui.refreshOnJobs([card], function (kind) { return kinds.indexOf(kind) >= 0; });
  // Addresses come on the VM socket, which vm_detail.js holds and passes on.
  document.addEventListener("kvm:vm-message", function (event) {
    const msg = event.detail;
    if (msg.type === "vm.addresses" && msg.vm === uuid) showAddresses(msg.addresses || {});
  });
})();
