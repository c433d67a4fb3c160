// Follows one job live over /ws/jobs/<id>/ and updates the page rendered by templates/jobs/job_detail.html.
// Every message is a full "job.progress" snapshot, so a missed message costs nothing: the next one repairs.
(function () {
  "use strict";
  const root = document.getElementById("job");
  if (!root || !("WebSocket" in window)) return;

  const stateLabels = JSON.parse(document.getElementById("job-state-labels").textContent);
  const stepStateLabels = JSON.parse(document.getElementById("job-step-state-labels").textContent);
  const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
  const live = document.getElementById("job-live");
  let lastSeq = 0;
  document.querySelectorAll("#job-log tr[data-seq]").forEach(function (row) {
    lastSeq = Math.max(lastSeq, Number(row.dataset.seq) || 0);
  });

  function setBadge(el, state, labels) {
    el.className = el.className.replace(/\bstate-\S+/g, "").trim() + " state-" + state;
    el.textContent = labels[state] || state;
  }

  function show(el, visible) {
    if (el) el.hidden = !visible;
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text); // values, never markup
    return td;
  }

  function apply(msg) {
    if (msg.type !== "job.progress" || String(msg.job) !== root.dataset.jobId) return;
    const badge = document.getElementById("job-state");
    setBadge(badge, msg.state, stateLabels);
    badge.dataset.state = msg.state;

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
      const tr = document.createElement("tr");
      tr.dataset.seq = entry.seq;
      tr.className = "log-" + entry.level;
      const when = document.createElement("td");
      const time = document.createElement("time");
      time.dateTime = entry.at;
      time.textContent = entry.at;
      when.appendChild(time);
      tr.append(when, cell(entry.level), cell(entry.step), cell(entry.message));
      tbody.appendChild(tr);
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
})();
