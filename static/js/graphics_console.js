// The graphical console page: noVNC's RFB client over /ws/vms/<uuid>/vnc/?token=...
//
// Each connection takes a fresh one-use ticket (POST, CSRF-checked), then opens the websocket. We open
// the WebSocket ourselves and hand it to RFB so the page can read the server's close code and reason
// (4401 not logged in, 4403 not allowed / bad ticket, 4404 no display, 4406 display address refused,
// 1011 unreachable); noVNC only reports "clean or not". The server also sends the reason in a text frame
// {"type": "closing", ...} before it closes: daphne drops the close frame's reason. All texts come
// translated from the page (json_script "vnc-config").
//
// No password here: the relay authenticates to the display with the VM's password and offers noVNC a
// session without one (RFB security type None), so the page never has it. noVNC asking for credentials
// means something is wrong with the relay: the page says so and disconnects.
import { fetchTicket, followVmState, socketUrl as ticketSocketUrl } from "./console_ticket.js";

const config = JSON.parse(document.getElementById("vnc-config").textContent);
const screen = document.getElementById("vnc-screen");
const statusEl = document.getElementById("vnc-status");
const cadButton = document.getElementById("vnc-cad");
const reconnectButton = document.getElementById("vnc-reconnect");
const disconnectButton = document.getElementById("vnc-disconnect");
const scaleBox = document.getElementById("vnc-scale");
const text = config.messages;
const noDisplayText = followVmState(config);

const CLOSE_MESSAGES = {
  4401: text.notLoggedIn,
  4403: text.forbidden,
  4404: text.noGraphics,
  4406: text.refused,
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

function ticket() {
  return fetchTicket(config.tokenUrl, {}, text.ticketFailed);
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
    // The text frame first: it carries the whole sentence, the close frame at most 123 bytes of it.
    // 4404: the page's own sentence, which knows whether the VM runs (the relay's cannot).
    const reason =
      code === 4404 ? noDisplayText() : serverReason || (lastClose && lastClose.reason) || CLOSE_MESSAGES[code];
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
  rfb.addEventListener("credentialsrequired", () => {
    // The relay answers the display's password itself; a viewer never has one to give.
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
