// The graphical console page for a SPICE display: spice-html5 over /ws/vms/<uuid>/spice/?token=...
//
// spice-html5 opens one websocket per SPICE channel (main first, then display, inputs, cursor... once
// the main channel lists them), all to the URL it was given: the ticket (POST, CSRF-checked, with
// display=spice) may be used again for a few seconds, and every reconnect takes a new one. No password:
// spice-html5 sends an (empty) ticket on each channel and the relay replaces it with one encrypted with
// the VM's display password, which the page never has.
// spice-html5 reports only its own errors ("Unexpected protocol mismatch."...): the page reads the
// main socket's close code (4401, 4403, 4404, 4406, 1011) and reason itself. All texts come from the
// page ("vnc-config").
import { fetchTicket, followVmState, socketUrl as ticketSocketUrl } from "./console_ticket.js";

const config = JSON.parse(document.getElementById("vnc-config").textContent);
const screen = document.getElementById("spice-screen");
const statusEl = document.getElementById("vnc-status");
const cadButton = document.getElementById("vnc-cad");
const reconnectButton = document.getElementById("vnc-reconnect");
const disconnectButton = document.getElementById("vnc-disconnect");
const text = config.messages;
const noDisplayText = followVmState(config);

const CLOSE_MESSAGES = {
  4401: text.notLoggedIn,
  4403: text.forbidden,
  4404: text.noGraphics,
  4406: text.refused,
  1011: text.unreachable,
};

let spice = null; // the spice-html5 module
let conn = null; // SpiceMainConn
let mainClose = null; // the main channel socket's close event
let leaving = false;

function setStatus(message, level = "") {
  statusEl.textContent = message;
  statusEl.dataset.level = level;
}

function ticket() {
  return fetchTicket(config.tokenUrl, { display: "spice" }, text.ticketFailed);
}

function socketUrl(token) {
  return ticketSocketUrl(config.socketPath, token);
}

function ended(message, level) {
  cadButton.disabled = true;
  disconnectButton.hidden = true;
  reconnectButton.hidden = false;
  if (conn) {
    const old = conn;
    conn = null;
    try {
      old.stop();
    } catch (error) {
      // already down
    }
  }
  screen.replaceChildren();
  setStatus(message, level);
}

function onError(error) {
  if (!conn) return; // a later channel's echo of an end already shown
  if (leaving) {
    ended(text.disconnected);
    return;
  }
  const code = mainClose ? mainClose.code : null;
  if (code === 4404) {
    // The page's own sentence, which knows whether the VM runs (the relay's cannot).
    ended(noDisplayText(), "bad");
  } else if (CLOSE_MESSAGES[code]) {
    // The server's own sentence when the ASGI server passes it on (daphne drops it), else ours.
    ended((mainClose && mainClose.reason) || CLOSE_MESSAGES[code], "bad");
  } else if (error && error.message === "Bad password.") {
    ended(text.passwordFailed, "bad");
  } else if (code === 1000) {
    ended(text.disconnected);
  } else {
    ended(text.failed, "bad");
  }
}

async function connect() {
  if (conn) return;
  leaving = false;
  reconnectButton.hidden = true;
  disconnectButton.hidden = true;
  cadButton.disabled = true;
  setStatus(text.connecting);
  try {
    spice = spice || (await import(screen.dataset.spiceModule));
  } catch (error) {
    setStatus(text.loadFailed, "bad");
    return;
  }
  let data;
  try {
    data = await ticket();
  } catch (error) {
    setStatus(error.message, "bad");
    reconnectButton.hidden = false;
    return;
  }
  mainClose = null;
  try {
    conn = new spice.SpiceMainConn({
      uri: socketUrl(data.token),
      screen_id: screen.id,
      password: "", // the relay puts the VM's password in the ticket
      onerror: (error) => setTimeout(() => onError(error), 0), // after our close listener below
      onsuccess: () => {
        setStatus(text.connected, "good");
        cadButton.disabled = false;
        disconnectButton.hidden = false;
      },
    });
  } catch (error) {
    conn = null;
    setStatus(text.failed, "bad");
    reconnectButton.hidden = false;
    return;
  }
  // The main channel's socket: spice-html5 keeps it as `ws`; its close code says why we were refused.
  conn.ws.addEventListener("close", (event) => {
    mainClose = event;
  });
}

cadButton.addEventListener("click", () => {
  if (conn) {
    window.sc = conn; // spice-html5's sendCtrlAltDel reads a global `sc`
    spice.sendCtrlAltDel();
  }
});
reconnectButton.addEventListener("click", () => connect());
disconnectButton.addEventListener("click", () => {
  if (conn) {
    leaving = true;
    ended(text.disconnected);
  }
});
window.addEventListener("beforeunload", () => {
  leaving = true;
  if (conn) conn.stop();
});

connect();
