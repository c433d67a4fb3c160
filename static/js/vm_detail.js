// One VM, live: state, job timeline with progress, CPU/memory sparklines (/ws/vms/<uuid>/),
// and the serial console in xterm.js (/ws/vms/<uuid>/console/). Values only, never markup.
(function () {
  "use strict";
  const root = document.getElementById("vm");
  if (!root || !window.KVM) return;
  const uuid = root.dataset.vm;
  const vmLabels = KVM.jsonScript("vm-state-labels", {});
  const jobLabels = KVM.jsonScript("job-state-labels", {});
  const kindLabels = KVM.jsonScript("job-kind-labels", {});
  const FINISHED = ["succeeded", "failed", "cancelled"];

  // --- state -----------------------------------------------------------------------------------
  function applyState(state) {
    KVM.setBadge(document.getElementById("vm-state"), state, vmLabels);
    document.querySelectorAll('[data-vm-actions="' + uuid + '"]').forEach(function (el) { KVM.applyActions(el, state); });
    const gone = state === "deleted";
    document.getElementById("vm-gone").hidden = !gone;
    // Deleted while the page is open: actions, consoles, sharing and usage no longer mean anything.
    if (gone) {
      document.querySelectorAll("[data-live-only]").forEach(function (el) { el.hidden = true; });
      if (consoleSocket) consoleSocket.close();
    }
  }

  // --- jobs ------------------------------------------------------------------------------------
  const jobList = document.getElementById("jobs");
  function jobRow(msg) {
    let li = jobList.querySelector('li[data-job="' + msg.job + '"]');
    if (li) return li;
    const empty = document.getElementById("jobs-empty");
    if (empty) empty.remove();
    li = document.createElement("li");
    li.dataset.job = msg.job;
    const title = document.createElement("span");
    const link = document.createElement("a");
    link.href = "/jobs/" + msg.job + "/";
    link.textContent = kindLabels[msg.kind] || msg.kind;
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = " #" + msg.job;
    title.append(link, when);
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.dataset.role = "state";
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.dataset.role = "progress";
    const err = document.createElement("span");
    err.className = "err";
    err.dataset.role = "error";
    err.hidden = true;
    li.append(title, badge, bar, err);
    jobList.prepend(li);
    return li;
  }
  // Said once per finished job, for the tabs' parts that the job changed (ui.refreshOnJobs).
  const announced = {};
  const unfinished = "[data-state='queued'], [data-state='running'], [data-state='retrying']";
  // Read as the page was made, before either socket could change a badge.
  const unfinishedAtLoad = !!(jobList && jobList.querySelector(unfinished));
  function applyJob(msg) {
    if (!jobList || msg.target !== "vms.virtualmachine:" + root.dataset.vmId) return;
    if (msg.finished && !announced[msg.job]) {
      announced[msg.job] = true;
      document.dispatchEvent(new CustomEvent("kvm:job-finished", { detail: msg }));
    }
    const li = jobRow(msg);
    KVM.setBadge(li.querySelector('[data-role="state"]'), msg.state, jobLabels);
    const bar = li.querySelector('[data-role="progress"]');
    bar.value = msg.progress || 0;
    bar.textContent = (msg.progress || 0) + " %";
    bar.hidden = FINISHED.indexOf(msg.state) >= 0;
    const err = li.querySelector('[data-role="error"]');
    const message = msg.error && msg.error.message;
    err.textContent = message || "";
    err.hidden = !message;
  }

  // --- sparklines ------------------------------------------------------------------------------
  const points = { cpu: [], mem: [] };
  const MAX_POINTS = 60;
  function draw(id, values, text) {
    const box = document.getElementById(id);
    if (!box) return; // a tab without the usage card
    const line = box.querySelector("polyline");
    const max = id === "spark-cpu" ? 100 : Math.max.apply(null, values.concat([1]));
    const n = values.length;
    line.setAttribute("points", values.map(function (v, i) {
      const x = n > 1 ? (i * 60) / (n - 1) : 60;
      const y = 100 - Math.max(0, Math.min(100, (100 * v) / max));
      return x.toFixed(2) + "," + y.toFixed(2);
    }).join(" "));
    box.querySelector('[data-role="value"]').textContent = text;
  }
  function addStats(s) {
    if (s.cpu_percent != null) points.cpu.push(Number(s.cpu_percent));
    if (s.memory_used_mib != null) points.mem.push(Number(s.memory_used_mib));
    points.cpu = points.cpu.slice(-MAX_POINTS);
    points.mem = points.mem.slice(-MAX_POINTS);
    if (points.cpu.length) draw("spark-cpu", points.cpu, points.cpu[points.cpu.length - 1].toFixed(1) + " %");
    if (points.mem.length) {
      const used = sizeMiB(points.mem[points.mem.length - 1]);
      draw("spark-mem", points.mem, s.memory_total_mib ? used + " / " + sizeMiB(s.memory_total_mib) : used);
    }
    const none = document.getElementById("spark-none");
    if (none) none.hidden = points.cpu.length + points.mem.length > 0;
  }
  // The same rule as the size filters (ui/formatting.py): the largest unit that keeps a number >= 1.
  function sizeMiB(mib) {
    const units = ["MiB", "GiB", "TiB"];
    let amount = Number(mib);
    let unit = 0;
    while (Math.abs(amount) >= 1024 && unit < units.length - 1) { amount /= 1024; unit += 1; }
    const decimals = unit === 0 || amount === Math.round(amount) || Math.abs(amount) >= 100 ? 0 : 1;
    return amount.toLocaleString(document.documentElement.lang || undefined,
      { minimumFractionDigits: decimals, maximumFractionDigits: decimals }) + " " + units[unit];
  }
  const live = document.getElementById("vm-live");
  const gone = root.dataset.gone === "1";
  if (!gone) (KVM.jsonScript("vm-stats", []) || []).forEach(addStats);

  // --- copy buttons (the SSH command) -------------------------------------------------------------
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) return; // the text stays selectable by hand
    button.hidden = false;
    const label = button.textContent;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = button.dataset.copiedLabel || label;
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });

  // --- the VM socket -------------------------------------------------------------------------
  let consoleSocket = null;
  // A job that finished while the page loaded, or while this socket was down, sent its message to
  // nobody: on the first open (when the page showed unfinished jobs) and on every reopen, the job list
  // and the parts that jobs change are re-read.
  let opened = false;
  KVM.socket(root.dataset.wsPath, {
    open: function () {
      if (live) live.classList.add("on");
      if ((opened || unfinishedAtLoad) && jobList) {
        window.ui.refreshFromServer([jobList]);
        document.dispatchEvent(new CustomEvent("kvm:jobs-missed"));
      }
      opened = true;
    },
    close: function () { if (live) live.classList.remove("on"); },
    message: function (msg) {
      if (msg.type === "vm.state" && msg.vm === uuid) applyState(msg.state);
      else if (msg.type === "job.progress") applyJob(msg);
      else if (msg.type === "vm.stats" && msg.vm === uuid && !gone) addStats(msg);
      // Anything else (vm.addresses) is for the tab's own script.
      else document.dispatchEvent(new CustomEvent("kvm:vm-message", { detail: msg }));
    },
  });
  // The fleet socket also carries this VM's state and jobs (app.js); apply them the same way.
  document.addEventListener("kvm:message", function (event) {
    const msg = event.detail;
    if (msg.type === "vm.state" && msg.vm === uuid) applyState(msg.state);
    else if (msg.type === "job.progress") applyJob(msg);
  });

  // --- the serial console ----------------------------------------------------------------------
  const box = document.getElementById("console");
  if (gone || !box) return; // a deleted VM's page has no console
  const stateBadge = document.getElementById("console-state");
  const mayType = root.dataset.mayType === "1";
  function consoleState(kind) {
    stateBadge.textContent = stateBadge.dataset[kind + "Label"];
    stateBadge.className = "badge " + (kind === "open" ? "state-running" : kind === "closed" ? "state-stopped" : "state-pending");
    stateBadge.dataset.console = kind;
  }
  let write;
  let term = null;
  if (window.Terminal) {
    term = new window.Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, scrollback: 5000,
      disableStdin: !mayType, theme: { background: "#0b0f17" } });
    let fit = null;
    if (window.FitAddon) { fit = new window.FitAddon.FitAddon(); term.loadAddon(fit); }
    term.open(box);
    if (fit) {
      const refit = function () { try { fit.fit(); } catch (e) { /* hidden */ } };
      refit();
      window.addEventListener("resize", refit);
    }
    write = function (text) { term.write(text); };
  } else {
    // No xterm.js (static/vendor missing): a plain, read-only transcript.
    const pre = document.createElement("pre");
    pre.style.cssText = "color:#e5e7eb;margin:0;white-space:pre-wrap;height:100%;overflow:auto";
    box.appendChild(pre);
    write = function (text) { pre.textContent += text; pre.scrollTop = pre.scrollHeight; };
  }
  // Everything written, for tests and for copying: the terminal keeps only what fits its buffer.
  root.consoleText = "";
  consoleState("connecting");
  let typing = mayType;
  consoleSocket = KVM.socket(root.dataset.consolePath, {
    message: function (msg) {
      if (msg.type === "console.output") {
        write(msg.data);
        root.consoleText = (root.consoleText + msg.data).slice(-200000);
      } else if (msg.type === "console.state") {
        consoleState(msg.open ? "open" : "closed");
      } else if (msg.type === "console.access") {
        // Rights changed while the page was open (a share lowered to view): stop sending keys.
        typing = Boolean(msg.may_type);
      } else if (msg.type === "error" && msg.message) {
        write("\r\n[" + msg.message + "]\r\n");
      }
    },
    close: function () { consoleState("connecting"); },
  });
  if (term && mayType) {
    term.onData(function (data) {
      if (typing) consoleSocket.send({ type: "console.input", data: data });
    });
  }
})();
