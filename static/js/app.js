// Shared page behaviour: the components of templates/components/ (confirm dialog, sortable and searchable
// tables, error summary focus, relative times), the phone menu, and the live fleet socket.
// The fleet socket (/ws/fleet/) delivers vm.state, job.progress and request.state messages the user may see;
// this file updates the generic bits (state badges, action buttons) and re-emits each message as a
// "kvm:message" event so page scripts can do more. Values only, never markup. See docs/ui.md.
(function () {
  "use strict";

  function jsonScript(id, fallback) {
    const el = document.getElementById(id);
    if (!el) return fallback;
    try { return JSON.parse(el.textContent); } catch (e) { return fallback; }
  }

  function setBadge(el, state, labels) {
    if (!el) return;
    if (el.dataset.state === state) return;
    el.className = el.className.replace(/\bstate-\S+/g, "").trim() + " state-" + state;
    el.dataset.state = state;
    el.textContent = (labels && labels[state]) || state;
    el.classList.remove("pulse");
    void el.offsetWidth; // restart the animation
    el.classList.add("pulse");
  }

  // Keep a socket open with backoff; 4401/4403/4404 mean "stop": retrying will not help.
  function socket(path, handlers) {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let delay = 1000;
    let ws = null;
    let stopped = false;
    function connect() {
      ws = new WebSocket(scheme + location.host + path);
      ws.onopen = function () { delay = 1000; if (handlers.open) handlers.open(ws); };
      ws.onmessage = function (event) {
        let msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        if (handlers.message) handlers.message(msg, ws);
      };
      ws.onclose = function (event) {
        if (handlers.close) handlers.close(event);
        if (stopped || event.code === 4401 || event.code === 4403 || event.code === 4404) return;
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    connect();
    return {
      send: function (obj) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(obj)); return true; } return false; },
      close: function () { stopped = true; if (ws) ws.close(); },
    };
  }

  const vmLabels = jsonScript("vm-state-labels", {});
  const requestLabels = jsonScript("request-state-labels", {});
  const actionStates = jsonScript("action-states", null);

  function applyActions(container, state) {
    if (!container || !actionStates) return;
    container.querySelectorAll("[data-action]").forEach(function (el) {
      const allowed = actionStates[el.dataset.action] || [];
      el.hidden = allowed.indexOf(state) === -1;
    });
  }

  function onVMState(msg) {
    document.querySelectorAll('[data-vm-badge="' + CSS.escape(msg.vm) + '"]').forEach(function (el) {
      setBadge(el, msg.state, vmLabels);
    });
    document.querySelectorAll('[data-vm-actions="' + CSS.escape(msg.vm) + '"]').forEach(function (el) {
      applyActions(el, msg.state);
    });
  }

  function onRequestState(msg) {
    document.querySelectorAll('[data-request-badge="' + msg.request + '"]').forEach(function (el) {
      setBadge(el, msg.state, requestLabels);
    });
  }

  function dispatch(msg) {
    if (msg.type === "vm.state") onVMState(msg);
    if (msg.type === "request.state") onRequestState(msg);
    document.dispatchEvent(new CustomEvent("kvm:message", { detail: msg }));
  }

  // Initial button visibility from the rendered states.
  document.querySelectorAll("[data-vm-actions]").forEach(function (el) {
    applyActions(el, el.dataset.state);
  });

  // The page's words come from {% ui_strings %} (base.html, translated); English only if a page lacks them.
  const words = Object.assign({
    cancel: "Cancel", confirm: "Confirm", typeName: "To confirm, type %(name)s:", shown: "%(count)s shown",
    justNow: "just now", live: "Live", offline: "Offline", connecting: "Connecting…",
  }, jsonScript("ui-strings", {}));
  function say(key, values) {
    let text = words[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("%(" + name + ")s").join(values[name]); });
    return text;
  }

  // --- Confirmation dialog: <form data-confirm="Question?" [data-confirm-action="Delete"] [data-confirm-name="vm-1"]>.
  // Without JS the form simply submits; the server never relies on this question.
  let dialog = null;
  function buildDialog() {
    const d = document.createElement("dialog");
    d.className = "confirm";
    d.setAttribute("aria-labelledby", "confirm-question");
    d.innerHTML =
      '<form method="dialog">' +
      '<p class="question" id="confirm-question"></p>' +
      '<div class="confirm-name" hidden><label for="confirm-name-input"></label>' +
      '<input id="confirm-name-input" type="text" autocomplete="off" autocapitalize="off" spellcheck="false"></div>' +
      '<div class="actions"><button type="submit" value="cancel" class="secondary" data-role="cancel"></button>' +
      '<button type="submit" value="confirm" data-role="confirm"></button></div></form>';
    d.querySelector("[data-role=cancel]").textContent = say("cancel");
    document.body.appendChild(d);
    return d;
  }

  function askToConfirm(form, submitter) {
    dialog = dialog || buildDialog();
    const name = form.dataset.confirmName || "";
    const nameRow = dialog.querySelector(".confirm-name");
    const input = dialog.querySelector("#confirm-name-input");
    const ok = dialog.querySelector("[data-role=confirm]");
    dialog.querySelector(".question").textContent = form.dataset.confirm;
    const actionText = form.dataset.confirmAction || (submitter && submitter.textContent.trim()) || say("confirm");
    ok.textContent = actionText;
    ok.className = submitter && submitter.classList.contains("danger") || name ? "danger" : "";
    nameRow.hidden = !name;
    input.value = "";
    if (name) {
      // The name goes in as text, never as markup.
      const label = nameRow.querySelector("label");
      const parts = say("typeName").split("%(name)s");
      const strong = document.createElement("strong");
      strong.textContent = name;
      label.replaceChildren(document.createTextNode(parts[0]), strong, document.createTextNode(parts[1] || ""));
    }
    ok.disabled = !!name;
    input.oninput = function () { ok.disabled = input.value !== name; };
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue === "confirm" && (!name || input.value === name)) {
        form.dataset.confirmed = "1";
        if (form.requestSubmit) form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
        else form.submit();
      } else if (submitter) {
        submitter.focus();
      }
    };
    dialog.showModal();
    // Start on the safe choice, or on the name to type.
    (name ? input : dialog.querySelector("[data-role=cancel]")).focus();
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (event.defaultPrevented || !form.dataset || !form.dataset.confirm) return; // a page script took it
    if (form.dataset.confirmed) { delete form.dataset.confirmed; return; }
    if (typeof HTMLDialogElement === "undefined") return; // no dialog support: submit as without JS
    event.preventDefault();
    askToConfirm(form, event.submitter);
  });

  // --- Tables: <table data-table> with <th data-sort>, and <input data-table-search="tableId">.
  function cellValue(row, index) {
    const cell = row.cells[index];
    if (!cell) return "";
    if (cell.dataset.value !== undefined) {
      const n = parseFloat(cell.dataset.value);
      return isNaN(n) ? cell.dataset.value : n;
    }
    return cell.textContent.trim();
  }

  function sortTable(table, th, index) {
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[data-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const collator = new Intl.Collator(document.documentElement.lang || undefined, { numeric: true, sensitivity: "base" });
    Array.prototype.forEach.call(table.tBodies, function (body) {
      const rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        const x = cellValue(a, index);
        const y = cellValue(b, index);
        const order = typeof x === "number" && typeof y === "number" ? x - y : collator.compare(String(x), String(y));
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  }

  // Pages that add rows or tables after load call window.ui.enhance(container) on what they added.
  function enhance(root) {
    root = root || document;
    root.querySelectorAll("table[data-table] th[data-sort]").forEach(function (th) {
      if (th.querySelector("button.sort")) return;
      const table = th.closest("table");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () { sortTable(table, th, th.cellIndex); });
    });
    root.querySelectorAll("input[data-table-search]").forEach(function (input) {
      const table = document.getElementById(input.dataset.tableSearch);
      if (!table || input.dataset.enhanced) return;
      input.dataset.enhanced = "1";
      let count = document.querySelector('[data-table-count="' + CSS.escape(table.id) + '"]');
      if (!count) {
        count = document.createElement("span");
        count.className = "table-count muted small";
        input.insertAdjacentElement("afterend", count);
      }
      count.setAttribute("aria-live", "polite");
      function filter() {
        const terms = input.value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
        let shown = 0;
        Array.prototype.forEach.call(table.tBodies, function (body) {
          Array.prototype.forEach.call(body.rows, function (row) {
            const text = row.textContent.toLocaleLowerCase();
            const match = terms.every(function (w) { return text.indexOf(w) !== -1; });
            row.hidden = !match;
            if (match) shown += 1;
          });
        });
        count.textContent = say("shown", { count: shown });
      }
      input.addEventListener("input", filter);
      filter();
    });
  }
  enhance(document);

  // --- Forms: the error summary (or else the first invalid field) takes focus, so a screen reader reads it
  // and a keyboard user starts where the problem is; its links move focus to the field, not just the view.
  const summary = document.querySelector(".error-summary");
  const firstInvalid = document.querySelector('[aria-invalid="true"]');
  if (summary) summary.focus();
  else if (firstInvalid) firstInvalid.focus();
  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
    if (!link) return;
    const field = document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1)));
    if (!field) return;
    event.preventDefault();
    field.scrollIntoView({ block: "center" });
    field.focus();
  });

  // --- Times: the same words as the `when` filter (ui/formatting.py), kept true while the page stays open.
  const UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
  function exactTime(date) {
    const pad = function (n) { return String(n).padStart(2, "0"); };
    let zone = "";
    try {
      zone = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(date)
        .filter(function (p) { return p.type === "timeZoneName"; }).map(function (p) { return p.value; }).join("");
    } catch (e) { zone = ""; }
    return (date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + " " + zone).trim();
  }
  function formatWhen(iso, now) {
    const date = new Date(iso);
    if (isNaN(date)) return "";
    const seconds = ((now || Date.now()) - date.getTime()) / 1000;
    if (Math.abs(seconds) < 60) return say("justNow");
    const unit = UNITS.find(function (u) { return Math.abs(seconds) >= u[1]; });
    const amount = Math.floor(Math.abs(seconds) / unit[1]);
    const rtf = new Intl.RelativeTimeFormat(document.documentElement.lang || undefined, { numeric: "always" });
    return rtf.format(seconds > 0 ? -amount : amount, unit[0]);
  }
  function renderTime(el) {
    const text = formatWhen(el.getAttribute("datetime"));
    if (!text) return;
    el.textContent = text;
    el.title = exactTime(new Date(el.getAttribute("datetime")));
  }
  function refreshTimes(root) { (root || document).querySelectorAll("time.when[datetime]").forEach(renderTime); }
  setInterval(refreshTimes, 60000);

  // --- Phone menu: a real button with aria-expanded; the menu is open (and the button hidden) on wide screens.
  const menuButton = document.querySelector("[data-menu-button]");
  if (menuButton) {
    const menu = document.getElementById(menuButton.getAttribute("aria-controls"));
    menuButton.hidden = false;
    document.body.classList.add("has-menu-button");
    menuButton.addEventListener("click", function () {
      const open = menuButton.getAttribute("aria-expanded") !== "true";
      menuButton.setAttribute("aria-expanded", String(open));
      if (menu) menu.classList.toggle("open", open);
    });
  }

  // --- The live indicator says its state in words, not only with its dot's colour.
  const live = document.querySelectorAll("[data-live-indicator]");
  function setLive(on) {
    live.forEach(function (el) {
      el.classList.toggle("on", on);
      el.textContent = say(on ? "live" : "offline");
    });
  }
  live.forEach(function (el) { el.textContent = say("connecting"); });

  const fleetPath = document.body.dataset.fleetSocket;
  if (fleetPath && "WebSocket" in window) {
    socket(fleetPath, { message: dispatch, open: function () { setLive(true); }, close: function () { setLive(false); } });
  }

  window.KVM = { socket: socket, setBadge: setBadge, jsonScript: jsonScript, dispatch: dispatch, applyActions: applyActions };
  // --- Parts of a page re-read from the server: only it knows the counts, names and links after a change.
  // Each element (with an id) gets the children of the element with the same id in a fresh copy of this
  // page, then its tables and times are set up again. A failed fetch is left to the next change.
  function refreshFromServer(elements) {
    return fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        const fresh = new DOMParser().parseFromString(html, "text/html");
        Array.from(elements).forEach(function (el) {
          const next = el.id && fresh.getElementById(el.id);
          if (!next) return;
          el.replaceChildren.apply(el, Array.from(next.childNodes));
          enhance(el);
          refreshTimes(el);
        });
      })
      .catch(function () { /* the next change tries again */ });
  }

  // --- Parts of a VM page that a finished job changes (the tabs: docs/living-with-a-vm.md) ---------
  // vm_detail.js says "kvm:job-finished" once per job of the VM (from whichever socket told it first) and
  // "kvm:jobs-missed" when a job may have finished unseen: it was unfinished when the page was made and
  // the sockets were not open yet, or a socket was down. Either way `elements` are re-read, one re-read at
  // a time and one more after it when asked meanwhile: answers that overtake each other must never leave
  // an older copy on the page. `wanted(kind)` says which job kinds change them.
  function refreshOnJobs(elements, wanted) {
    let busy = false;
    let again = false;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      refreshFromServer(elements).finally(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
    }
    document.addEventListener("kvm:job-finished", function (event) {
      if (wanted(event.detail.kind || "")) refresh();
    });
    document.addEventListener("kvm:jobs-missed", refresh);
    return refresh;
  }

  window.ui = {
    formatWhen: formatWhen, exactTime: exactTime, renderTime: renderTime, refreshTimes: refreshTimes, say: say,
    enhance: enhance, refreshFromServer: refreshFromServer, refreshOnJobs: refreshOnJobs,
  };
})();
