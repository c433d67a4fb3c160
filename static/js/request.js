// One request, followed live: its decision (request.state) and then its VM's state (vm.state),
// both from the fleet socket. No reloads.
(function () {
  "use strict";
  const root = document.getElementById("request");
  if (!root) return;
  const id = Number(root.dataset.requestId);
  const vmLabels = KVM.jsonScript("vm-state-labels", {});
  const BAD = ["rejected", "cancelled", "failed"];

  function step(key) { return root.querySelector('#request-flow li[data-step="' + key + '"]'); }
  function mark(key, cls) { const el = step(key); if (el) { el.classList.remove("done", "bad"); if (cls) el.classList.add(cls); } }

  document.addEventListener("kvm:message", function (event) {
    const msg = event.detail;
    if (msg.type === "request.state" && msg.request === id) {
      if (msg.state !== "pending") {
        mark("decided", BAD.indexOf(msg.state) >= 0 ? "bad" : "done");
        const label = KVM.jsonScript("request-state-labels", {})[msg.state];
        if (label && BAD.indexOf(msg.state) >= 0) step("decided").textContent = label;
        ["request-actions", "request-waiting"].forEach(function (elId) { const el = document.getElementById(elId); if (el) el.hidden = true; });
        root.querySelectorAll("[data-decide]").forEach(function (el) { el.hidden = true; });
      }
      if (msg.reason) {
        const reason = document.getElementById("request-reason");
        reason.querySelector('[data-role="reason"]').textContent = msg.reason;
        reason.hidden = false;
      }
      if (msg.vm) {
        mark("created", "done");
        const box = document.getElementById("request-vm");
        const link = document.getElementById("request-vm-link");
        const badge = document.getElementById("request-vm-state");
        link.href = msg.vm_url;
        badge.dataset.vmBadge = msg.vm;
        KVM.setBadge(badge, msg.vm_state, vmLabels);
        box.hidden = false;
        if (msg.vm_state === "running") mark("running", "done");
      }
    }
    if (msg.type === "vm.state") {
      const badge = document.getElementById("request-vm-state");
      if (badge && badge.dataset.vmBadge === msg.vm) {
        KVM.setBadge(badge, msg.state, vmLabels);
        mark("running", msg.state === "running" ? "done" : null);
      }
    }
  });
})();
