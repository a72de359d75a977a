// This device's camera and microphone sent to the server: a media session
// (kept across reconnects) and its WebRTC peer connection.
//
// aiortc takes no trickled ICE candidates, so the offer is sent once ICE
// gathering is complete (or its host candidates are in: gatheringComplete). aiortc
// cannot restart ICE either: after a network drop a new peer connection sends a new
// offer for the same session (a take being recorded continues in a new segment on
// the server).
//
// A drop is noticed by whichever comes first: the socket lost (its heartbeat, lib/
// socketio.js), the peer connection disconnected or failed, the server saying the
// media stopped (session_state "media_silent", or the heartbeat's session "silent"),
// or the bytes sent standing still. Once the socket is back, a session whose media
// the server does not get is given a new peer connection at once.

import { SocketError } from "./socketio.js";
import { applySending, withStereoOffer } from "./sending.js";

const GATHER_TIMEOUT_MS = 2000; // the longest wait for ICE candidates
const GATHER_QUIET_MS = 150; // after a host candidate, no new one for this long: send
const RECOVER_AFTER_MS = 1000; // a "disconnected" peer that has not come back by then
const RETRY_MAX_MS = 8000; // a failed negotiation is tried again, waiting up to this long
const NEW_PEER_MS = 4000; // a new peer connection's media may take this long to arrive
const RESUME_WAIT_MS = 1500; // a resumed connection's media may be back without the server knowing
const STATS_MS = 1000; // how often the bytes sent are looked at
const STALLED_POLLS = 3; // ... standing still this many times in a row: the media stopped

/** A failed acknowledgement: ``{"error": {"code", "message"}}``. */
export class ServerError extends Error {
  constructor(code, message, details = null) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

/** Send ``event`` and return its result, or throw ServerError / SocketError. */
export async function request(socket, event, data, timeoutMs) {
  const result = await socket.call(event, data, timeoutMs);
  if (result && result.error) {
    throw new ServerError(result.error.code, result.error.message, result.error.details || null);
  }
  return result;
}

/**
 * Resolves when ICE gathering is complete, or when host candidates have come and no new
 * one for GATHER_QUIET_MS (on a LAN or loopback they come at once; "complete" may wait
 * seconds for interfaces that give nothing), or after GATHER_TIMEOUT_MS at the latest.
 * The offer then carries the candidates found so far.
 */
export function gatheringComplete(pc) {
  return new Promise((resolve) => {
    let quiet = null;
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", found);
      clearTimeout(timer);
      clearTimeout(quiet);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const found = (event) => {
      if (!event.candidate) return done(); // the end of the candidates
      clearTimeout(quiet);
      quiet = setTimeout(done, GATHER_QUIET_MS);
    };
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", found);
    if (/a=candidate/.test(pc.localDescription?.sdp || "")) {
      quiet = setTimeout(done, GATHER_QUIET_MS); // some came before we listened
    }
    check();
  });
}

export class Uplink {
  /**
   * ``onState(state, error)``: "connecting", "connected", "reconnecting" or "failed".
   * ``role``: "primary", or "secondary" for a phone as the second camera, which opens
   * its session with the ``pairingId`` from redeeming the QR code's token.
   * ``onMedia()``: what the server says of the media changed (``media``, ``recordedNow``,
   * ``lostForS``, ``lastDrop``), from its heartbeat and session_state events.
   * ``examId``: the exam it records for (its sound and picture, lib/sending.js); none on
   * the device check (the unit's most demanding exam) and the phone (its attempt's).
   */
  constructor(socket, stream, onState, {
    role = "primary", pairingId = null, onMedia, examId = null,
  } = {}) {
    this.socket = socket;
    this.stream = stream;
    this.onState = onState;
    this.onMedia = onMedia || (() => {});
    this.role = role;
    this.pairingId = pairingId;
    this.examId = examId;
    this.sending = null; // the exam's profile the server answered with (docs/signaling.md)
    this.closed = false; // after close(): nothing reconnects
    this.sessionId = null;
    this.iceServers = []; // from open_session: the TURN servers this page may use
    this.state = "connecting";
    this.pc = null;
    this.media = null; // the server's word: "flowing", "silent", or null (not known yet)
    this.drop = null; // a drop under way: {startedAt: perf ms, silentSince: server s|null}
    this.lastDrop = null; // the last one over: {lostS, endedAt: perf ms}
    this._recorded = null; // {takeId, seconds, at: perf ms} from the heartbeat
    this._serverOffsetMs = null; // server epoch ms - performance.now(), from the heartbeat
    this._lastGoodAt = null; // performance.now() of the last heartbeat with the media flowing
    this._pcSince = 0; // performance.now() of the current peer connection
    this._negotiating = false;
    this._silentTries = 0; // new connections made because the server got no media
    this._senders = {};
    this._previewTrack = null; // the copy of the camera's track the preview sends
    this._previewWanted = false; // the server pictures this camera now (heartbeat: preview)
    this._recoverTimer = null;
    this._failures = 0;
    this._stats = { bytes: -1, still: 0 };
    this._statsTimer = null;
    this._queue = Promise.resolve(); // one step at a time: resume, negotiate
    socket.on("connect", () => {
      if (!this.closed) this._run(() => this._resume());
    });
    socket.on("disconnect", () => {
      if (this.closed) return;
      this._dropStarted();
      this._setState("reconnecting");
    });
    socket.on("heartbeat", (beat) => this._onHeartbeat(beat));
    socket.on("session_state", (session) => this._onSessionState(session));
  }

  /** Connect to the server and start sending; progress is reported through onState. */
  start() {
    if (this.socket.connected) return this._run(() => this._resume());
    return this.socket.connect().catch((err) => this._setState("failed", err));
  }

  /** Try again now (the retry button): the socket if it is down, else a new connection. */
  retryNow() {
    if (this.closed) return;
    clearTimeout(this._recoverTimer);
    if (!this.socket.connected) this.socket.reconnect();
    else this._run(() => this._negotiate());
  }

  /** Replace the track of ``track.kind`` being sent (after a camera switch). */
  async replaceTrack(track) {
    const sender = this._senders[track.kind];
    if (sender) await sender.replaceTrack(track);
    const preview = this._senders.preview;
    if (track.kind === "video" && preview) {
      const old = this._previewTrack;
      this._previewTrack = track.clone();
      await preview.replaceTrack(this._previewTrack);
      old?.stop();
      await applySending({ preview }, this._sendingNow()); // its scale, for the new size
    }
  }

  async close() {
    this.closed = true;
    clearTimeout(this._recoverTimer);
    clearInterval(this._statsTimer);
    if (this.pc) this.pc.close();
    this.pc = null;
    this._stopPreview();
    if (this.sessionId && this.socket.connected) {
      await request(this.socket, "close_session", { session_id: this.sessionId }).catch(() => {});
    }
    this.sessionId = null;
  }

  /** The server's epoch now (seconds), from the heartbeat; null before the first. */
  serverNow() {
    if (this._serverOffsetMs === null) return null;
    return (performance.now() + this._serverOffsetMs) / 1000;
  }

  /**
   * Seconds of take ``takeId`` the server holds from this camera, counted on while its
   * media flows (never ahead of the server by more than a heartbeat); null if unknown.
   */
  recordedNow(takeId) {
    const rec = this._recorded;
    if (!rec || rec.takeId !== takeId) return null;
    const flowing = this.media === "flowing" && this.state === "connected" && !this.drop;
    const since = flowing ? Math.min(1.5, (performance.now() - rec.at) / 1000) : 0;
    return rec.seconds + since;
  }

  /** Seconds since the drop under way began (the server's last frame, when it told us). */
  lostForS() {
    if (!this.drop) return null;
    const now = this.serverNow();
    if (this.drop.silentSince !== null && now !== null) {
      return Math.max(0, now - this.drop.silentSince);
    }
    return (performance.now() - (this._lastGoodAt ?? this.drop.startedAt)) / 1000;
  }

  // -- internals ---------------------------------------------------------------------------

  _run(step) {
    this._queue = this._queue.then(step).catch((err) => {
      // A lost connection is retried by the socket; anything else needs a new offer.
      if (err instanceof SocketError && err.code === "disconnected") return;
      this._failures += 1;
      if (err instanceof ServerError && err.code === "draining") {
        // This server is stopping and takes no new session: a new connection is sent to
        // another one by the load balancer. Meanwhile the page says it is reconnecting.
        this._setState("reconnecting");
        this._redial(Math.min(RETRY_MAX_MS, 500 * 2 ** (this._failures - 1)));
        return;
      }
      if (err instanceof ServerError && err.code === "busy") {
        // A full or overloaded server takes no new camera for now (the cameras it has keep
        // recording): the page says it is reconnecting and asks again when it was told to.
        const afterS = Number(err.details?.retry_after_s) || 5;
        this._setState("reconnecting");
        this._scheduleRecovery(Math.min(RETRY_MAX_MS, afterS * 1000));
        return;
      }
      this._setState("failed", err);
      this._scheduleRecovery(Math.min(RETRY_MAX_MS, 1000 * 2 ** (this._failures - 1)));
    });
    return this._queue;
  }

  _setState(state, error = null) {
    this.state = state;
    this.onState(state, error);
  }

  _dropStarted(silentSince = null) {
    if (!this.drop) this.drop = { startedAt: performance.now(), silentSince: null };
    if (silentSince !== null && this.drop.silentSince === null) {
      this.drop.silentSince = silentSince;
    }
    this.onMedia();
  }

  // The server gets our media again: the drop is over. How long it lasted: the server's
  // word (its last silence, from the last frame before to the first after) when it has one
  // that overlaps this drop, else from the last heartbeat that found the media flowing.
  _dropOver(session = null) {
    if (!this.drop) return;
    const silence = session?.last_silence;
    const startedAt = this._lastGoodAt ?? this.drop.startedAt;
    const serverStart = this._serverOffsetMs === null ? null
      : (startedAt + this._serverOffsetMs) / 1000;
    let lostS = (performance.now() - startedAt) / 1000;
    if (silence && (serverStart === null || silence.to >= serverStart)) {
      lostS = Math.max(0, silence.to - silence.from);
    }
    this.drop = null;
    this.lastDrop = { lostS, endedAt: performance.now() };
    this.onMedia();
  }

  _onHeartbeat({ result, sentAt, receivedAt }) {
    if (typeof result.now === "number") {
      this._serverOffsetMs = result.now * 1000 - (sentAt + receivedAt) / 2;
    }
    const mine = (result.sessions || []).find((x) => x.session_id === this.sessionId);
    if (!mine) return;
    this._previewIs(mine.preview === true);
    if (mine.media === "flowing" && !this.drop) this._lastGoodAt = receivedAt;
    this._mediaIs(mine);
    if (mine.take_id && typeof mine.recorded_s === "number") {
      this._recorded = { takeId: mine.take_id, seconds: mine.recorded_s, at: receivedAt };
    }
    this.onMedia();
  }

  _onSessionState(session) {
    if (!session || session.session_id !== this.sessionId) return;
    this._mediaIs(session);
  }

  // What the server says of this session's media: a silent one gets a new connection.
  _mediaIs(session) {
    const was = this.media;
    this.media = session.media || null;
    if (this.media === "silent") {
      this._dropStarted(typeof session.silent_since === "number" ? session.silent_since : null);
      // A new connection that brings no media either (a camera that sends nothing) is
      // replaced less and less often.
      const wait = NEW_PEER_MS * 2 ** Math.min(3, this._silentTries);
      const settling = performance.now() - this._pcSince < wait;
      if (!this._negotiating && !settling && this.socket.connected && !this.closed) {
        this._silentTries += 1;
        this._run(() => this._negotiate());
      }
    } else if (this.media === "flowing" && this.state === "connected") {
      this._silentTries = 0;
      this._dropOver(session);
    }
    if (was !== this.media) this.onMedia();
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
    // TURN servers with fresh time-limited credentials for this page ([] without TURN).
    if (opened?.ice_servers) this.iceServers = opened.ice_servers;
    if (opened && this.pc && this.pc.connectionState === "connected") {
      // The same peer connection may carry the media again (a short drop): the server's
      // word on it may be half a second old, so a silent one gets a moment before a new one.
      if (opened.media === "silent") {
        this._pcSince = Math.max(this._pcSince, performance.now() - NEW_PEER_MS + RESUME_WAIT_MS);
      }
      this._setState("connected");
      this._mediaIs(opened);
      return;
    }
    if (!opened) {
      const open = { role: this.role };
      if (this.pairingId) open.pairing_id = this.pairingId;
      opened = await request(this.socket, "open_session", open);
      this.sessionId = opened.session_id;
      this.iceServers = opened.ice_servers || [];
    } else if (opened.media === "silent") {
      this.media = "silent";
      this._dropStarted(opened.silent_since ?? null);
    }
    await this._negotiate();
  }

  async _negotiate() {
    if (this.closed || !this.sessionId) return;
    this._negotiating = true;
    try {
      this._setState(this.state === "connecting" ? "connecting" : "reconnecting");
      if (this.pc) this.pc.close();
      const pc = new RTCPeerConnection({ iceServers: this.iceServers });
      this.pc = pc;
      this._pcSince = performance.now();
      this._senders = {};
      for (const track of this.stream.getTracks()) {
        const options = { direction: "sendonly", streams: [this.stream] };
        this._senders[track.kind] = pc.addTransceiver(track, options).sender;
      }
      const preview = this._addPreview(pc);
      pc.addEventListener("connectionstatechange", () => this._onPeerState(pc));
      const offer = await pc.createOffer();
      await pc.setLocalDescription({ type: "offer", sdp: withStereoOffer(offer.sdp, this.stream) });
      await gatheringComplete(pc);
      const message = { session_id: this.sessionId, type: "offer", sdp: pc.localDescription.sdp };
      if (this.examId) message.exam_id = this.examId;
      if (preview?.mid) message.preview = preview.mid;
      const answer = await request(this.socket, "offer", message);
      if (pc !== this.pc) return; // replaced meanwhile
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      this.sending = answer.media || null;
      await applySending(this._senders, this._sendingNow());
    } finally {
      this._negotiating = false;
    }
  }

  // The camera's preview for the proctors' wall (media/preview.py): a copy of its track on
  // a section of its own, sending nothing until the server's answer asks for it (lib/
  // sending.js) and its heartbeat says the camera is pictured (_previewIs). The copy is
  // stopped with its connection: a live copy keeps the camera on.
  _addPreview(pc) {
    this._stopPreview();
    const video = this.stream.getVideoTracks?.()[0];
    if (!video?.clone) return null;
    this._previewTrack = video.clone();
    const init = { direction: "sendonly", sendEncodings: [{ active: false }] };
    try {
      const transceiver = pc.addTransceiver(this._previewTrack, init);
      this._senders.preview = transceiver.sender;
      return transceiver;
    } catch (err) {
      console.warn("no preview for the wall", err); // the wall pictures the camera itself
      this._stopPreview();
      return null;
    }
  }

  // The preview sends only while the server pictures this camera (a proctors' wall or a
  // detector watches it; the heartbeat says so): the node receives it for nothing otherwise.
  _previewIs(wanted) {
    if (wanted === this._previewWanted) return;
    this._previewWanted = wanted;
    if (!this._senders.preview || !this.sending) return; // the answer will say
    this._run(() => applySending({ preview: this._senders.preview }, this._sendingNow()));
  }

  // The answer's ``media``, with its preview only while the server pictures this camera.
  _sendingNow() {
    if (!this.sending || this._previewWanted) return this.sending;
    return { ...this.sending, preview: null };
  }

  _stopPreview() {
    this._previewTrack?.stop();
    this._previewTrack = null;
  }

  _onPeerState(pc) {
    if (pc !== this.pc) return;
    clearTimeout(this._recoverTimer);
    const state = pc.connectionState;
    if (state === "connected") {
      this._failures = 0;
      this._setState("connected");
      this._watchStats(pc);
      if (this.media !== "silent") this._dropOver();
    } else if (state === "failed") {
      this._dropStarted();
      this._setState("failed", new Error("the media connection failed"));
      this._scheduleRecovery(0);
    } else if (state === "disconnected") {
      this._dropStarted();
      this._setState("reconnecting");
      this._scheduleRecovery(RECOVER_AFTER_MS);
    }
  }

  // The bytes sent standing still while "connected": the media stopped on the way out.
  _watchStats(pc) {
    clearInterval(this._statsTimer);
    this._stats = { bytes: -1, still: 0 };
    this._statsTimer = setInterval(async () => {
      if (pc !== this.pc || pc.connectionState !== "connected") {
        clearInterval(this._statsTimer);
        return;
      }
      let bytes = 0;
      try {
        (await pc.getStats()).forEach((r) => {
          if (r.type === "outbound-rtp") bytes += r.bytesSent || 0;
        });
      } catch {
        return;
      }
      this._stats.still = bytes === this._stats.bytes ? this._stats.still + 1 : 0;
      this._stats.bytes = bytes;
      if (this._stats.still === STALLED_POLLS) {
        console.warn("no media sent for a while: a new connection");
        this._dropStarted();
        this._scheduleRecovery(0);
      }
    }, STATS_MS);
  }

  _redial(delayMs) {
    clearTimeout(this._recoverTimer);
    this._recoverTimer = setTimeout(() => {
      if (!this.closed) this.socket.reconnect(); // its "connect" resumes
    }, delayMs);
  }

  _scheduleRecovery(delayMs) {
    clearTimeout(this._recoverTimer);
    this._recoverTimer = setTimeout(() => {
      if (this.closed) return;
      if (this.socket.connected) this._run(() => this._resume());
      // else: the socket's "connect" resumes
    }, delayMs);
  }
}
