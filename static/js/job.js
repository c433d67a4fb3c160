// Jobs, live. The job page (templates/jobs/job_detail.html) follows one job over /ws/jobs/<id>/; every
// message is a full "job.progress" snapshot, so a missed message costs nothing: the next one repairs.
// The job list (templates/jobs/job_list.html) hears job.progress without the log from the fleet socket
// (app.js re-emits it as "kvm:message"): progress changes in place; a new job or a changed state
// re-reads the list from the server, which alone knows how to name targets and who may see what.
(function () {
  "use strict";

  function labelsFrom(id) {
    const el = document.getElementById(id);
    try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
  }

  function setBadge(el, state, labels) {
    if (!el) return;
    el.className = el.className.replace(/\bstate-\S+/g, "").trim() + " state-" + state;
    el.dataset.state = state;
    el.textContent = labels[state] || state;
  }

  // The same words as the server's `when` filter: relative, exact time on hover (app.js owns the format).
  function timeElement(iso) {
    const time = document.createElement("time");
    time.className = "when";
    time.dateTime = iso || "";
    time.textContent = iso || "—";
    if (iso && window.ui && typeof window.ui.formatWhen === "function") {
      const text = window.ui.formatWhen(iso);
      if (text) time.textContent = text;
      if (window.ui.exactTime) time.title = window.ui.exactTime(new Date(iso));
    }
    return time;
  }

  function followList() {
    const list = document.getElementById("job-list");
    if (!list) return;
    let timer = null;

    function reload() {
      timer = null;
      window.ui.refreshFromServer([list]);
    }

    // The last state heard of each job: progress alone never costs a request to the server, and a job
    // this list does not show (someone else's, filtered out) is asked about once per state, not per tick.
    const heard = {};
    list.querySelectorAll("[data-job-badge]").forEach(function (badge) {
      heard[badge.dataset.jobBadge] = badge.dataset.state;
    });

    document.addEventListener("kvm:message", function (event) {
      const msg = event.detail;
      if (msg.type !== "job.progress") return;
      const progress = list.querySelector('[data-job-progress="' + msg.job + '"]');
      if (progress) progress.textContent = msg.progress + " %";
      if (heard[msg.job] === msg.state) return;
      heard[msg.job] = msg.state;
      // A new job, or one whose state changed (it may leave or join a filtered list): ask the server.
      if (!timer) timer = setTimeout(reload, 500);
    });
  }

  function followJob(root) {
    if (!("WebSocket" in window)) return;
    const stateLabels = labelsFrom("job-state-labels");
    const stepStateLabels = labelsFrom("job-step-state-labels");
    const stepLabels = labelsFrom("job-step-labels");
    const levelLabels = labelsFrom("job-level-labels");
    const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
    const live = document.getElementById("job-live");
    let lastSeq = 0;
    document.querySelectorAll("#job-log tr[data-seq]").forEach(function (row) {
      lastSeq = Math.max(lastSeq, Number(row.dataset.seq) || 0);
    });

    function show(el, visible) {
      if (el) el.hidden = !visible;
    }

    function logRow(entry) {
      const tr = document.createElement("tr");
      tr.dataset.seq = entry.seq;
      tr.className = "log-" + entry.level;
      const when = document.createElement("td");
      when.appendChild(timeElement(entry.at));
      if (entry.step) {
        const step = document.createElement("span");
        step.className = "muted small";
        step.dataset.role = "step";
        step.textContent = stepLabels[entry.step] || entry.step; // values, never markup
        when.append(document.createElement("br"), step);
      }
      const message = document.createElement("td");
      message.style.overflowWrap = "anywhere";
      if (entry.level !== "info") {
        const level = document.createElement("span");
        level.className = "badge state-" + entry.level;
        level.textContent = levelLabels[entry.level] || entry.level;
        message.append(level, " ");
      }
      message.append(entry.message == null ? "" : String(entry.message));
      tr.append(when, message);
      return tr;
    }

    function apply(msg) {
      if (msg.type !== "job.progress" || String(msg.job) !== root.dataset.jobId) return;
      setBadge(document.getElementById("job-state"), msg.state, stateLabels);

      document.getElementById("job-progress").value = msg.progress;
      document.getElementById("job-progress-text").textContent = msg.progress + " %";
      document.getElementById("job-attempts").textContent = msg.attempts;

      (msg.steps || []).forEach(function (step) {
        const li = root.querySelector('#job-steps li[data-step="' + CSS.escape(step.name) + '"]');
        if (!li) return;
        li.className = "step step-" + step.state;
        setBadge(li.querySelector('[data-role="state"]'), step.state, stepStateLabels);
      });

      const error = document.getElementById("job-error");
      const hasError = !!(msg.error && msg.error.message);
      show(error, hasError);
      if (hasError) {
        error.querySelector('[data-role="message"]').textContent = msg.error.message;
        error.querySelector('[data-role="host-message"]').textContent = msg.error.host_message || "";
        show(error.querySelector('[data-role="host"]'), !!msg.error.host_message);
      }

      const finished = FINISHED.has(msg.state);
      show(document.getElementById("job-cancel-requested"), msg.cancel_requested && !finished);
      show(document.getElementById("job-retry"), msg.state === "failed");
      show(document.getElementById("job-cancel"), !finished && !msg.cancel_requested);

      const tbody = document.getElementById("job-log");
      (msg.log || []).forEach(function (entry) {
        if (entry.seq <= lastSeq) return;
        lastSeq = entry.seq;
        tbody.appendChild(logRow(entry));
      });
    }

    let delay = 1000;
    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + location.host + root.dataset.wsPath);
      socket.onopen = function () {
        delay = 1000;
        live.textContent = "";
      };
      socket.onmessage = function (event) {
        apply(JSON.parse(event.data));
      };
      socket.onclose = function (event) {
        // 4401 (logged out) and 4404 (not yours / gone) will not get better by retrying.
        if (event.code === 4401 || event.code === 4404) return;
        live.textContent = live.dataset.offline;
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    connect();
  }

  const root = document.getElementById("job");
  if (root) followJob(root);
  else followList();
})();
