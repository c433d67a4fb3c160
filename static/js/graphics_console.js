// The graphical console page: noVNC's RFB client over /ws/vms/<uuid>/vnc/?token=...
//
// Each connection takes a fresh one-use ticket (POST, CSRF-checked), then opens the websocket. We open
// the WebSocket ourselves and hand it to RFB so the page can read the server's close code and reason
// (4401 not logged in, 4403 not allowed / bad ticket, 4404 no display, 1011 unreachable); noVNC only
// reports "clean or not". The server also sends the reason in a text frame {"type": "closing", ...}
// before it closes: daphne drops the close frame's reason. All texts come translated from the page
// (json_script "vnc-config").
import { fetchTicket, socketUrl as ticketSocketUrl } from "./console_ticket.js";

const config = JSON.parse(document.getElementById("vnc-config").textContent);
const screen = document.getElementById("vnc-screen");
const statusEl = document.getElementById("vnc-status");
const cadButton = document.getElementById("vnc-cad");
const reconnectButton = document.getElementById("vnc-reconnect");
const disconnectButton = document.getElementById("vnc-disconnect");
const scaleBox = document.getElementById("vnc-scale");
const text = config.messages;

const CLOSE_MESSAGES = {
  4401: text.notLoggedIn,
  4403: text.forbidden,
  4404: text.noGraphics,
  1011: text.unreachable,
};

let rfb = null;
let lastClose = null;
let serverReason = null; // from the server's "closing" text frame
let failure = null; // a reason noVNC gave before it disconnected (security, password)
let leaving = false; // the user asked to disconnect: not a failure

function setStatus(message, level = "") {
  statusEl.textContent = message;
  statusEl.dataset.level = level;
}

function ticket(withPassword = false) {
  return fetchTicket(config.tokenUrl, withPassword ? { password: "1" } : {}, text.ticketFailed);
}

function socketUrl(token) {
  return ticketSocketUrl(config.socketPath, token);
}

async function loadRFB() {
  const { default: RFB } = await import(screen.dataset.rfbModule);
  return RFB;
}

async function connect() {
  if (rfb) return;
  reconnectButton.hidden = true;
  disconnectButton.hidden = true;
  cadButton.disabled = true;
  leaving = false;
  setStatus(text.connecting);
  let RFB;
  let data;
  try {
    RFB = await loadRFB();
  } catch (error) {
    setStatus(text.loadFailed, "bad");
    return;
  }
  try {
    data = await ticket();
  } catch (error) {
    setStatus(error.message, "bad");
    reconnectButton.hidden = false;
    return;
  }
  lastClose = null;
  serverReason = null;
  failure = null;
  const socket = new WebSocket(socketUrl(data.token));
  socket.binaryType = "arraybuffer";
  socket.addEventListener("close", (event) => {
    lastClose = event;
  });
  socket.addEventListener("message", (event) => {
    if (typeof event.data !== "string") return; // RFB: binary frames only, noVNC's business
    try {
      const message = JSON.parse(event.data);
      if (message.type === "closing" && message.reason) serverReason = message.reason;
    } catch (error) {
      // not ours: ignore
    }
  });
  rfb = new RFB(screen, socket, { shared: true });
  rfb.scaleViewport = scaleBox ? scaleBox.checked : true;
  rfb.resizeSession = false;
  rfb.focusOnClick = true;
  rfb.addEventListener("connect", () => {
    setStatus(text.connected, "good");
    cadButton.disabled = false;
    disconnectButton.hidden = false;
    rfb.focus();
  });
  rfb.addEventListener("disconnect", (event) => {
    cadButton.disabled = true;
    disconnectButton.hidden = true;
    reconnectButton.hidden = false;
    rfb = null;
    if (leaving) {
      setStatus(text.disconnected);
      return;
    }
    const code = lastClose ? lastClose.code : null;
    const reason = (lastClose && lastClose.reason) || serverReason || CLOSE_MESSAGES[code];
    if (failure) {
      setStatus(failure, "bad");
    } else if (reason && code !== 1000) {
      setStatus(reason, "bad");
    } else if (event.detail.clean) {
      setStatus(reason || text.disconnected);
    } else {
      setStatus(text.failed, "bad");
    }
  });
  rfb.addEventListener("credentialsrequired", async () => {
    // The display has a VNC password: ask the dashboard for it (the user may operate this VM).
    try {
      const withPassword = await ticket(true);
      if (withPassword.password && rfb) {
        rfb.sendCredentials({ password: withPassword.password });
        return;
      }
    } catch (error) {
      // fall through
    }
    failure = text.passwordFailed;
    setStatus(failure, "bad");
    if (rfb) rfb.disconnect();
  });
  rfb.addEventListener("securityfailure", (event) => {
    failure = event.detail.reason || text.securityFailed;
    setStatus(failure, "bad");
  });
}

cadButton.addEventListener("click", () => {
  if (rfb) {
    rfb.sendCtrlAltDel();
    rfb.focus();
  }
});
reconnectButton.addEventListener("click", () => connect());
disconnectButton.addEventListener("click", () => {
  if (rfb) {
    leaving = true;
    rfb.disconnect();
  }
});
if (scaleBox) {
  scaleBox.addEventListener("change", () => {
    if (rfb) rfb.scaleViewport = scaleBox.checked;
  });
}
window.addEventListener("beforeunload", () => {
  leaving = true;
  if (rfb) rfb.disconnect();
});

connect();
