// Shared page behaviour: confirmations, the language switch, and the live fleet socket.
// The fleet socket (/ws/fleet/) delivers vm.state, job.progress and request.state messages the user may see;
// this file updates the generic bits (state badges, action buttons) and re-emits each message as a
// "kvm:message" event so page scripts can do more. Values only, never markup.
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

  document.addEventListener("submit", function (event) {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });

  const live = document.querySelectorAll("[data-live-indicator]");
  function setLive(on) { live.forEach(function (el) { el.classList.toggle("on", on); }); }

  const fleetPath = document.body.dataset.fleetSocket;
  if (fleetPath && "WebSocket" in window) {
    socket(fleetPath, { message: dispatch, open: function () { setLive(true); }, close: function () { setLive(false); } });
  }

  window.KVM = { socket: socket, setBadge: setBadge, jsonScript: jsonScript, dispatch: dispatch, applyActions: applyActions };
})();
