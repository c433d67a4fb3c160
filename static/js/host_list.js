// The hosts list, live: a host going on- or offline, or a VM's state changing (the VM counts), re-reads
// the list from the server (window.ui.refreshFromServer), which alone knows the counts and words.
// Debounced: a burst of events costs one request.
(function () {
  "use strict";
  const region = document.getElementById("host-list");
  if (!region || !window.ui) return;
  let timer = null;
  document.addEventListener("kvm:message", function (event) {
    const type = event.detail.type;
    if (type !== "host.state" && type !== "vm.state") return;
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      window.ui.refreshFromServer([region]);
    }, 1000);
  });
})();
