// A small Socket.IO v5 client (Engine.IO v4, WebSocket transport only) for
// the default namespace: events, calls with acknowledgements, and reconnection
// with capped exponential backoff. The browser sends the session cookie on the
// WebSocket handshake by itself.
//
//   const socket = new SocketClient();
//   await socket.connect();
//   const result = await socket.call("open_session", {role: "primary"});
//   socket.on("take_stored", (take) => ...);
//   socket.on("connect", ...) / socket.on("disconnect", ...)   // after reconnects too
//   socket.on("heartbeat", ({ result, sentAt, receivedAt }) => ...) // the server's `time`
//
// A connection that carries a candidate's live media (their camera pages, their phone, a
// proctor's live view of them) names the candidate: `new SocketClient({ route: id })` or
// `socket.routeTo(id)` puts `c=<id>` in its URL, by which the load balancer sends all of a
// candidate's media to one node (docs/decisions/0026-routing-by-candidate.md).
//
// A silent drop (packets vanish, the socket looks open) is noticed by a heartbeat: the
// `time` event once a second; no answer within HEARTBEAT_TIMEOUT_MS and the connection is
// given up at once (not after the server's ping timeout) and opened again, retried every
// second or so while the network is away, so it is back within about a second of the
// network. A connection attempt that hangs (its packets vanish too) is given up as well.

// Engine.IO packet types (the first character of a text frame).
const EIO_OPEN = "0";
const EIO_CLOSE = "1";
const EIO_PING = "2";
const EIO_PONG = "3";
const EIO_MESSAGE = "4";
// Socket.IO packet types (the character after EIO_MESSAGE).
const SIO_CONNECT = "0";
const SIO_DISCONNECT = "1";
const SIO_EVENT = "2";
const SIO_ACK = "3";
const SIO_CONNECT_ERROR = "4";

const HEARTBEAT_MS = 1000; // the `time` event, while connected
const HEARTBEAT_TIMEOUT_MS = 2500; // no answer by then: the connection is dead
const CONNECT_TIMEOUT_MS = 3000; // an attempt not connected by then is given up
const FAST_RETRY_MS = 1000; // the longest wait between attempts for a while after a drop
const FAST_RETRY_FOR_MS = 120000; // ... this long; then the backoff grows to maxDelayMs

export class SocketError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/socket.io/?EIO=4&transport=websocket`;
}

// "2[...]", "212[...]", "312[...]" → {type, id, data}
function parsePacket(text) {
  const type = text[0];
  let i = 1;
  while (i < text.length && text[i] >= "0" && text[i] <= "9") i += 1;
  const id = i > 1 ? Number(text.slice(1, i)) : null;
  const rest = text.slice(i);
  return { type, id, data: rest ? JSON.parse(rest) : null };
}

/** ``url`` with ``c=<route>`` in its query (unchanged without a route). */
export function routedUrl(url, route) {
  if (!route) return url;
  const routed = new URL(url);
  routed.searchParams.set("c", route);
  return routed.href;
}

export class SocketClient {
  constructor({ url = defaultUrl(), route = null, minDelayMs = 500, maxDelayMs = 10000 } = {}) {
    this.url = url;
    this.route = route; // the candidate whose media this connection carries (c=)
    this._routing = null; // a route being learnt: connecting waits for it
    this._openWhenRouted = false;
    this.minDelayMs = minDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.connected = false;
    this._ws = null;
    this._listeners = new Map();
    this._pending = new Map(); // ack id → {resolve, reject, timer}
    this._nextId = 0;
    this._attempts = 0;
    this._closedByUser = false;
    this._retryTimer = null;
    this._watchdog = null;
    this._waiting = null;
    this._heartbeat = null;
    this._connectTimer = null;
    this._lostAt = null; // performance.now() when the connection was last lost
    addEventListener("online", () => this._reconnectNow());
  }

  /** Give up the connection now and open a new one (a dead socket the browser trusts). */
  reconnect() {
    if (this._ws) this._drop(this._ws);
    else this._reconnectNow();
  }

  /**
   * Name the candidate whose media this connection carries (``c=`` in its URL), or a
   * promise of it (a page that asks the API who it is): connecting waits for it. An open
   * connection without it, or with another, is opened again with it.
   */
  routeTo(route) {
    const routing = Promise.resolve(route).then((id) => id || null, () => this.route);
    this._routing = routing;
    return routing.then((id) => {
      if (this._routing !== routing) return; // a later one decides
      this._routing = null;
      const changed = id !== this.route;
      this.route = id;
      if (this._ws && changed) this._drop(this._ws); // reconnects, with the route
      else if (this._openWhenRouted && !this._ws && !this._closedByUser) this._open();
      this._openWhenRouted = false;
    });
  }

  /** Resolves once connected (retrying meanwhile); rejects if the server refuses. */
  connect() {
    this._closedByUser = false;
    if (this.connected) return Promise.resolve();
    if (!this._waiting) {
      this._waiting = {};
      this._waiting.promise = new Promise((resolve, reject) => {
        Object.assign(this._waiting, { resolve, reject });
      });
    }
    if (!this._ws && !this._retryTimer) this._open();
    return this._waiting.promise;
  }

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event).delete(fn);
  }

  /** Send an event and resolve with the server's acknowledgement. */
  call(event, data, timeoutMs = 15000) {
    if (!this.connected) {
      return Promise.reject(new SocketError("disconnected", "not connected to the server"));
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new SocketError("timeout", `no answer to ${event} within ${timeoutMs} ms`));
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      this._send(EIO_MESSAGE + SIO_EVENT + id + JSON.stringify([event, data]));
    });
  }

  close() {
    this._closedByUser = true;
    clearTimeout(this._retryTimer);
    clearInterval(this._heartbeat);
    if (this._ws) this._ws.close();
  }

  // -- internals ---------------------------------------------------------------------------

  _emit(event, ...args) {
    for (const fn of this._listeners.get(event) || []) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`socket listener for ${event} failed`, err);
      }
    }
  }

  _send(text) {
    if (this._ws && this._ws.readyState === WebSocket.OPEN) this._ws.send(text);
  }

  _open() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (this._routing) {
      this._openWhenRouted = true; // routeTo opens it once the route is known
      return;
    }
    const ws = new WebSocket(routedUrl(this.url, this.route));
    this._ws = ws;
    ws.onmessage = (msg) => this._onFrame(ws, msg.data);
    ws.onclose = () => this._onClose(ws);
    clearTimeout(this._connectTimer);
    this._connectTimer = setTimeout(() => {
      if (ws === this._ws && !this.connected) this._drop(ws);
    }, CONNECT_TIMEOUT_MS);
  }

  // Give ``ws`` up now: a dead connection's close handshake would wait for the network.
  _drop(ws) {
    if (ws !== this._ws) return;
    ws.onclose = null;
    ws.onmessage = null;
    try {
      ws.close();
    } catch {
      // closing a socket that never opened
    }
    this._onClose(ws);
  }

  _beat() {
    const ws = this._ws;
    const sentAt = performance.now();
    this.call("time", {}, HEARTBEAT_TIMEOUT_MS).then((result) => {
      if (result && !result.error) {
        this._emit("heartbeat", { result, sentAt, receivedAt: performance.now() });
      }
    }).catch((err) => {
      if (err instanceof SocketError && err.code === "timeout" && ws === this._ws) {
        console.warn("no answer from the server: reconnecting");
        this._drop(ws);
      }
    });
  }

  _onFrame(ws, text) {
    if (typeof text !== "string" || ws !== this._ws) return;
    const kind = text[0];
    if (kind === EIO_OPEN) {
      const handshake = JSON.parse(text.slice(1));
      this._deadAfterMs = handshake.pingInterval + handshake.pingTimeout;
      this._armWatchdog();
      this._send(EIO_MESSAGE + SIO_CONNECT);
    } else if (kind === EIO_PING) {
      this._armWatchdog();
      this._send(EIO_PONG);
    } else if (kind === EIO_CLOSE) {
      ws.close();
    } else if (kind === EIO_MESSAGE) {
      this._onPacket(parsePacket(text.slice(1)));
    }
  }

  _onPacket({ type, id, data }) {
    if (type === SIO_CONNECT) {
      this.connected = true;
      this._attempts = 0;
      this._lostAt = null;
      clearTimeout(this._connectTimer);
      clearInterval(this._heartbeat);
      this._heartbeat = setInterval(() => this._beat(), HEARTBEAT_MS);
      if (this._waiting) this._waiting.resolve();
      this._waiting = null;
      this._emit("connect");
      this._beat();
    } else if (type === SIO_CONNECT_ERROR) {
      // Refused by the server (e.g. no session cookie): retrying would not help.
      const error = new SocketError("refused", (data && data.message) || "connection refused");
      this._closedByUser = true;
      if (this._waiting) this._waiting.reject(error);
      this._waiting = null;
      this._emit("connect_error", error);
      this._ws.close();
    } else if (type === SIO_EVENT && Array.isArray(data)) {
      const [event, ...args] = data;
      this._emit(event, ...args);
      if (id !== null) this._send(EIO_MESSAGE + SIO_ACK + id + "[]");
    } else if (type === SIO_ACK && this._pending.has(id)) {
      const { resolve, timer } = this._pending.get(id);
      clearTimeout(timer);
      this._pending.delete(id);
      resolve(Array.isArray(data) ? data[0] : data);
    } else if (type === SIO_DISCONNECT) {
      this._ws.close();
    }
  }

  // No ping for pingInterval + pingTimeout: the connection is dead even if the
  // browser has not noticed yet (a phone that changed networks).
  _armWatchdog() {
    clearTimeout(this._watchdog);
    const ws = this._ws;
    this._watchdog = setTimeout(() => this._drop(ws), this._deadAfterMs);
  }

  _onClose(ws) {
    if (ws !== this._ws) return;
    clearTimeout(this._watchdog);
    clearTimeout(this._connectTimer);
    clearInterval(this._heartbeat);
    this._heartbeat = null;
    this._ws = null;
    if (this._lostAt === null) this._lostAt = performance.now();
    const wasConnected = this.connected;
    this.connected = false;
    for (const { reject, timer } of this._pending.values()) {
      clearTimeout(timer);
      reject(new SocketError("disconnected", "the connection to the server was lost"));
    }
    this._pending.clear();
    if (wasConnected) this._emit("disconnect");
    if (this._closedByUser) return;
    // Soon after a drop the network may come back any moment: try about every second.
    const fast = performance.now() - this._lostAt < FAST_RETRY_FOR_MS;
    const cap = fast ? Math.min(FAST_RETRY_MS, this.maxDelayMs) : this.maxDelayMs;
    const delay = Math.min(cap, this.minDelayMs * 2 ** this._attempts);
    this._attempts += 1;
    this._emit("reconnecting", { attempt: this._attempts, delayMs: delay });
    this._retryTimer = setTimeout(() => this._open(), delay * (0.75 + Math.random() / 2));
  }

  _reconnectNow() {
    if (this._retryTimer && !this._closedByUser) this._open();
  }

  /** Milliseconds since the connection was lost (null while connected). */
  lostForMs() {
    return this._lostAt === null ? null : performance.now() - this._lostAt;
  }
}
