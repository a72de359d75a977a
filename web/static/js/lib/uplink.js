// This device's camera and microphone sent to the server: a media session
// (kept across reconnects) and its WebRTC peer connection.
//
// aiortc takes no trickled ICE candidates, so the offer is sent once ICE
// gathering is complete. aiortc cannot restart ICE either: after a network
// drop a new peer connection sends a new offer for the same session (a take
// being recorded continues in a new segment on the server).

import { SocketError } from "./socketio.js";

const GATHER_TIMEOUT_MS = 5000;
const RECOVER_AFTER_MS = 4000; // a "disconnected" peer that has not come back by then

/** A failed acknowledgement: ``{"error": {"code", "message"}}``. */
export class ServerError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** Send ``event`` and return its result, or throw ServerError / SocketError. */
export async function request(socket, event, data, timeoutMs) {
  const result = await socket.call(event, data, timeoutMs);
  if (result && result.error) throw new ServerError(result.error.code, result.error.message);
  return result;
}

export function gatheringComplete(pc) {
  return new Promise((resolve) => {
    const check = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", check);
      clearTimeout(timer);
      resolve();
    };
    // Some networks never finish gathering; send the candidates found so far.
    const timer = setTimeout(() => {
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
    check();
  });
}

export class Uplink {
  /**
   * ``onState(state, error)``: "connecting", "connected", "reconnecting" or "failed".
   * ``role``: "primary", or "secondary" for a phone as the second camera, which opens
   * its session with the ``pairingId`` from redeeming the QR code's token.
   */
  constructor(socket, stream, onState, { role = "primary", pairingId = null } = {}) {
    this.socket = socket;
    this.stream = stream;
    this.onState = onState;
    this.role = role;
    this.pairingId = pairingId;
    this.closed = false; // after close(): nothing reconnects
    this.sessionId = null;
    this.state = "connecting";
    this.pc = null;
    this._senders = {};
    this._recoverTimer = null;
    this._queue = Promise.resolve(); // one step at a time: resume, negotiate
    socket.on("connect", () => {
      if (!this.closed) this._run(() => this._resume());
    });
    socket.on("disconnect", () => this._setState("reconnecting"));
  }

  /** Connect to the server and start sending; progress is reported through onState. */
  start() {
    if (this.socket.connected) return this._run(() => this._resume());
    return this.socket.connect().catch((err) => this._setState("failed", err));
  }

  /** Replace the track of ``track.kind`` being sent (after a camera switch). */
  async replaceTrack(track) {
    const sender = this._senders[track.kind];
    if (sender) await sender.replaceTrack(track);
  }

  async close() {
    this.closed = true;
    clearTimeout(this._recoverTimer);
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.sessionId && this.socket.connected) {
      await request(this.socket, "close_session", { session_id: this.sessionId }).catch(() => {});
    }
    this.sessionId = null;
  }

  // -- internals ---------------------------------------------------------------------------

  _run(step) {
    this._queue = this._queue.then(step).catch((err) => {
      // A lost connection is retried by the socket; anything else needs a new offer.
      if (err instanceof SocketError && err.code === "disconnected") return;
      this._setState("failed", err);
      this._scheduleRecovery(RECOVER_AFTER_MS * 2);
    });
    return this._queue;
  }

  _setState(state, error = null) {
    this.state = state;
    this.onState(state, error);
  }

  // After (re)connecting the socket: take the session back, or open a new one.
  async _resume() {
    if (this.closed) return;
    let opened = null;
    if (this.sessionId) {
      const resume = { role: this.role, resume: this.sessionId };
      opened = await request(this.socket, "open_session", resume).catch((err) => {
        if (err instanceof ServerError && err.code === "not_found") return null; // gone: new one
        throw err;
      });
    }
    if (opened && this.pc && this.pc.connectionState === "connected") {
      this._setState("connected");
      return;
    }
    if (!opened) {
      const open = { role: this.role };
      if (this.pairingId) open.pairing_id = this.pairingId;
      opened = await request(this.socket, "open_session", open);
      this.sessionId = opened.session_id;
    }
    await this._negotiate();
  }

  async _negotiate() {
    this._setState(this.state === "connecting" ? "connecting" : "reconnecting");
    if (this.pc) this.pc.close();
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    this._senders = {};
    for (const track of this.stream.getTracks()) {
      const options = { direction: "sendonly", streams: [this.stream] };
      this._senders[track.kind] = pc.addTransceiver(track, options).sender;
    }
    pc.addEventListener("connectionstatechange", () => this._onPeerState(pc));
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    const answer = await request(this.socket, "offer", {
      session_id: this.sessionId, type: "offer", sdp: pc.localDescription.sdp,
    });
    if (pc !== this.pc) return; // replaced meanwhile
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  _onPeerState(pc) {
    if (pc !== this.pc) return;
    clearTimeout(this._recoverTimer);
    const state = pc.connectionState;
    if (state === "connected") {
      this._setState("connected");
    } else if (state === "failed") {
      this._setState("failed", new Error("the media connection failed"));
      this._scheduleRecovery(1000);
    } else if (state === "disconnected") {
      this._setState("reconnecting");
      this._scheduleRecovery(RECOVER_AFTER_MS);
    }
  }

  _scheduleRecovery(delayMs) {
    clearTimeout(this._recoverTimer);
    this._recoverTimer = setTimeout(() => {
      if (this.socket.connected && !this.closed) this._run(() => this._resume());
    }, delayMs);
  }
}
