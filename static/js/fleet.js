// The fleet page, live: badges change at once (app.js); counts and capacity bars are re-read from
// /fleet/summary.json (aggregate queries only) at most every two seconds while changes arrive.
(function () {
  "use strict";
  const script = document.getElementById("fleet-script");
  const hosts = document.getElementById("hosts");
  if (!script || !hosts) return;
  const labels = KVM.jsonScript("vm-state-labels", {});
  let timer = null;
  let last = 0;

  function chips(el, byState) {
    if (!el) return;
    el.replaceChildren();
    Object.keys(byState).sort().forEach(function (state) {
      const chip = document.createElement("span");
      chip.className = "badge state-" + state;
      chip.textContent = (labels[state] || state) + ": " + byState[state];
      el.appendChild(chip);
    });
  }

  function apply(data) {
    chips(document.querySelector('#fleet-totals [data-role="by-state"]'), data.totals);
    data.hosts.forEach(function (h) {
      const card = hosts.querySelector('[data-host="' + h.id + '"]');
      if (!card) return;
      const online = card.querySelector('[data-role="online"]');
      const state = h.online ? "online" : "offline";
      online.className = "badge state-" + state;
      online.textContent = script.dataset[state];
      h.capacity.forEach(function (cap) {
        const meter = card.querySelector('[data-capacity="' + cap.key + '"]');
        if (!meter) return;
        meter.querySelector('[data-role="text"]').textContent = cap.used + " / " + cap.total + " (" + cap.percent + " %)";
        const bar = meter.querySelector('[data-role="bar"]');
        bar.className = "bar" + (cap.percent > 100 ? " over" : cap.percent >= 80 ? " warn" : "");
        bar.firstElementChild.style.width = Math.min(cap.percent, 100) + "%";
      });
      chips(card.querySelector('[data-role="by-state"]'), h.by_state);
    });
  }

  function refresh() {
    timer = null;
    last = Date.now();
    fetch(script.dataset.summaryUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) apply(data); })
      .catch(function () { /* the next change tries again */ });
  }

  document.addEventListener("kvm:message", function (event) {
    const type = event.detail.type;
    if (type !== "vm.state" && type !== "host.state") return;
    if (timer) return;
    timer = setTimeout(refresh, Math.max(0, 2000 - (Date.now() - last)));
  });
})();
