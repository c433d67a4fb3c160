// The Settings tab's general part, live: when a settings job (vm.update) of this VM finishes, or the VM
// changes state (a start applies what was pending for next boot), the part is re-read from the server
// (window.ui.refreshOnJobs), which alone knows the sizes, the name and what is still pending.
(function () {
  "use strict";
  const region = document.getElementById("settings-general");
  const root = document.getElementById("vm");
  if (!region || !root || !window.ui) return;
  const uuid = root.dataset.vm;
  const refresh = window.ui.refreshOnJobs([region], function (kind) { return kind === "vm.update"; });
  let timer = null;
  document.addEventListener("kvm:message", function (event) {
    const msg = event.detail;
    if (msg.type !== "vm.state" || msg.vm !== uuid || timer) return;
    timer = setTimeout(function () { timer = null; refresh(); }, 500);
  });
})();
