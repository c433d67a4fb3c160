// The fleet page, live: badges change at once (app.js); counts and capacity bars are re-read from
// /fleet/summary.json (aggregate queries only) at most every two seconds while changes arrive.
// Finding hosts: a search by name, a filter by what needs attention, and a sort, all in the page.
(function () {
  "use strict";
  const script = document.getElementById("fleet-script");
  const hosts = document.getElementById("hosts");
  if (!script || !hosts) return;
  const labels = KVM.jsonScript("vm-state-labels", {});
  const ATTENTION_ORDER = { offline: 0, over: 1, warn: 2, disabled: 3, ok: 4 };
  let timer = null;
  let last = 0;

  // --- search, filter, sort -------------------------------------------------------------------
  const filters = document.getElementById("fleet-filters");
  const search = document.getElementById("fleet-search");
  const stateFilter = document.getElementById("fleet-state");
  const sort = document.getElementById("fleet-sort");
  const count = document.getElementById("fleet-count");
  const none = document.getElementById("fleet-none");

  function cards() { return Array.from(hosts.querySelectorAll("[data-host]")); }

  function applyFilters() {
    if (!filters) return;
    const words = search.value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
    const wanted = stateFilter.value;
    let shown = 0;
    cards().forEach(function (card) {
      const name = card.dataset.name.toLocaleLowerCase();
      const attention = card.dataset.attention;
      const stateOk = !wanted || (wanted === "attention" ? attention !== "ok" : attention === wanted);
      const match = stateOk && words.every(function (w) { return name.indexOf(w) !== -1; });
      card.hidden = !match;
      if (match) shown += 1;
    });
    count.textContent = count.dataset.text.replace("{shown}", shown).replace("{total}", cards().length);
    none.hidden = shown > 0;
  }

  function applySort() {
    if (!sort) return;
    const by = sort.value;
    const collator = new Intl.Collator(document.documentElement.lang || undefined, { numeric: true });
    cards().sort(function (a, b) {
      let order = 0;
      if (by === "attention") order = ATTENTION_ORDER[a.dataset.attention] - ATTENTION_ORDER[b.dataset.attention];
      if (by === "vms") order = Number(b.dataset.vms) - Number(a.dataset.vms);
      return order || collator.compare(a.dataset.name, b.dataset.name);
    }).forEach(function (card) { hosts.appendChild(card); });
  }

  if (filters) {
    filters.addEventListener("submit", function (event) { event.preventDefault(); });
    search.addEventListener("input", applyFilters);
    stateFilter.addEventListener("change", applyFilters);
    sort.addEventListener("change", applySort);
    applyFilters();
  }

  // --- live numbers ---------------------------------------------------------------------------
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
      card.dataset.vms = h.vm_count;
      // The same order of concern as portal/services_fleet.judge (the summary carries the meters' levels).
      const levels = (h.capacity || []).map(function (cap) { return cap.level; });
      card.dataset.attention = !h.online ? "offline" : card.dataset.enabled !== "true" ? "disabled"
        : levels.indexOf("over") >= 0 ? "over" : levels.indexOf("warn") >= 0 ? "warn" : "ok";
      (h.capacity || []).forEach(function (cap) {
        const meter = card.querySelector('[data-capacity="' + cap.key + '"]');
        if (!meter) return;
        // The server words and judges each meter (portal/services_fleet.py): values only, never markup.
        meter.querySelector('[data-role="text"]').textContent = cap.text;
        const bar = meter.querySelector('[data-role="bar"]');
        bar.hidden = !cap.known;
        bar.className = "bar" + (cap.level === "over" ? " over" : cap.level === "warn" ? " warn" : "");
        bar.firstElementChild.style.width = cap.fill + "%";
      });
      chips(card.querySelector('[data-role="by-state"]'), h.by_state);
    });
    applyFilters();
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
