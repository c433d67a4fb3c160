// Requests, followed live from the fleet socket (app.js re-emits its messages as "kvm:message").
// - One request (templates/portal/request_detail.html): its decision (request.state), then its VM's state.
// - Lists and the home page: regions marked data-live-region are re-read from the server when a request
//   or a VM changes, since only the server knows the counts, names and links (a VM made by an approval).
// No reloads.
(function () {
  "use strict";
  const BAD = ["rejected", "cancelled", "failed"];

  // --- regions re-read from the server ---------------------------------------------------------
  const regions = document.querySelectorAll("[data-live-region]");
  let timer = null;
  function refreshRegions() {
    timer = null;
    window.ui.refreshFromServer(regions);
  }
  if (regions.length) {
    document.addEventListener("kvm:message", function (event) {
      const type = event.detail.type;
      if ((type === "request.state" || type === "vm.state") && !timer) timer = setTimeout(refreshRegions, 1000);
    });
  }

  // --- one request ----------------------------------------------------------------------------
  const root = document.getElementById("request");
  if (!root) return;
  const id = Number(root.dataset.requestId);
  const vmLabels = KVM.jsonScript("vm-state-labels", {});
  const flowLabels = KVM.jsonScript("request-flow-labels", {});

  function step(key) { return root.querySelector('#request-flow li[data-step="' + key + '"]'); }
  function mark(key, cls) { const el = step(key); if (el) { el.classList.remove("done", "bad"); if (cls) el.classList.add(cls); } }

  document.addEventListener("kvm:message", function (event) {
    const msg = event.detail;
    if (msg.type === "request.state" && msg.request === id) {
      if (msg.state !== "pending") {
        mark("decided", BAD.indexOf(msg.state) >= 0 ? "bad" : "done");
        const label = KVM.jsonScript("request-state-labels", {})[msg.state];
        if (label && BAD.indexOf(msg.state) >= 0) step("decided").textContent = label;
        ["request-actions", "request-waiting", "request-decide"].forEach(function (elId) {
          const el = document.getElementById(elId);
          if (el) el.hidden = true;
        });
        root.querySelectorAll("[data-decide]").forEach(function (el) { el.hidden = true; });
        // "Request sent, an admin will look at it" is no longer true: the decision replaces it.
        document.querySelectorAll(".messages .request-sent").forEach(function (el) { el.remove(); });
        document.querySelectorAll(".messages").forEach(function (list) { if (!list.children.length) list.remove(); });
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
        if (link) link.href = msg.vm_url;
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
        if (msg.state === "deleted" && flowLabels.deleted) step("created").textContent = flowLabels.deleted;
      }
    }
  });
})();
