// The Settings tab's general part, live: when a settings job (vm.update) of this VM finishes, or the VM
// changes state (a start applies what was pending for next boot), the part is re-read from the server
// (window.ui.refreshFromServer), which alone knows the sizes, the name and what is still pending.
(function () {
  "use strict";
  const region = document.getElementById("settings-general");
  const root = document.getElementById("vm");
  if (!region || !root || !window.ui) return;
  const uuid = root.dataset.vm;
  const target = "vms.virtualmachine:" + root.dataset.vmId;
  let timer = null;
  document.addEventListener("kvm:message", function (event) {
    const msg = event.detail;
    const settingsJob = msg.type === "job.progress" && msg.kind === "vm.update" && msg.target === target && msg.finished;
    const stateChange = msg.type === "vm.state" && msg.vm === uuid;
    if ((!settingsJob && !stateChange) || timer) return;
    timer = setTimeout(function () {
      timer = null;
      window.ui.refreshFromServer([region]);
    }, 500);
  });
})();
