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
