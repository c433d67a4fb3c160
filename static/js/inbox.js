// The approvals inbox, live: decided requests lose their buttons; new ones are announced.
(function () {
  "use strict";
  const inbox = document.getElementById("inbox");
  if (!inbox) return;
  document.addEventListener("kvm:message", function (event) {
    const msg = event.detail;
    if (msg.type !== "request.state") return;
    const card = inbox.querySelector('[data-inbox-request="' + msg.request + '"]');
    if (card && msg.state !== "pending") {
      card.querySelectorAll("[data-decide]").forEach(function (el) { el.hidden = true; });
    } else if (!card && msg.state === "pending") {
      document.getElementById("inbox-new").hidden = false;
    }
  });
})();
