// What both graphical consoles (noVNC and spice-html5) do before they connect: ask the page's
// server for a short-lived ticket (POST with CSRF), and build the websocket address that carries it.

function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

export async function fetchTicket(tokenUrl, params, failedMessage) {
  const response = await fetch(tokenUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: new URLSearchParams(params),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok || !data.token) {
    throw new Error(data.error || failedMessage);
  }
  return data;
}

export function socketUrl(socketPath, token) {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}${socketPath}?token=${encodeURIComponent(token)}`;
}

// The relay closes with 4404 both for a VM that is not running and for one without this kind of display:
// it cannot tell which without asking libvirt again. The page knows what the database believes, and
// hears the VM's state on the fleet socket while it stays open (app.js re-emits it as "kvm:message"),
// so it says the one that is true: never "not running" to the owner of a running VM.
export function followVmState(config) {
  let running = Boolean(config.running);
  document.addEventListener("kvm:message", (event) => {
    const msg = event.detail;
    if (msg && msg.type === "vm.state" && msg.vm === config.vm) {
      running = (config.screenStates || []).indexOf(msg.state) !== -1;
    }
  });
  return () => (running ? config.messages.noGraphics : config.messages.notRunning);
}
