// The spotlight: one candidate's cameras live, side by side, with sound.
//
// A ``viewer`` media session (docs/signaling.md, "Watching a candidate live"): open_session
// {role: "viewer", exam_id, candidate_id}, then an offer that only receives (two video and
// two audio sections: the first of each kind is the primary camera, the second the phone),
// answered by the server, which relays the candidate's encoded frames. ``viewer_state`` says
// when a camera connects or is lost, and asks for a new offer when a codec changed. The
// session ends when the panel closes, the page leaves, or the socket drops (then a new one
// is opened once it is back). ``viewer_closed``: the server closed it because this account
// may no longer watch the candidate; the panel shows why and opens nothing more.

import { SocketClient, SocketError } from "../../lib/socketio.js";
import { ServerError, gatheringComplete, request } from "../../lib/uplink.js";
import { h } from "../../lib/dom.js";
import { t } from "../../lib/i18n.js";
import { CAMERAS } from "./tiles.js";
import { SpotlightIncidents } from "./incidents.js";

const RETRY_MS = 2000; // a failed peer connection or step: try again after this
const DISCONNECTED_MS = 4000; // a "disconnected" peer not back by then gets a new offer
const STALE_MS = 3000; // no new frame for this long: no longer "live"
// The offer's sections in order; the server gives them cameras in this order.
const SECTIONS = [["video", "primary"], ["audio", "primary"], ["video", "secondary"],
  ["audio", "secondary"]];

/** One camera's video in the panel, with its state: connecting, live, lost or no_feed. */
class CameraPane {
  constructor(name) {
    this.name = name;
    this.connected = false; // the server says the candidate's camera is connected
    this.wasConnected = false;
    this.lastFrame = 0;
    this.video = h("video", { class: "spot-video", testid: "spot-video", autoplay: true,
      playsinline: true });
    this.stateEl = h("span", { class: "spot-state", testid: "spot-state" });
    this.el = h("figure", { class: "spot-camera", testid: "spot-camera", dataset: { camera: name } },
      this.video,
      h("figcaption", {}, h("span", { i18n: `wall.camera.${name}` }), this.stateEl));
  }

  attach(stream) {
    this.video.srcObject = stream;
    this.lastFrame = 0; // live again once this stream shows a frame
    this.video.muted = false;
    this.video.play().catch(() => {
      // No sound without a gesture on this page yet: play muted, the panel offers sound.
      this.video.muted = true;
      this.video.play().catch(() => {});
      this.el.dispatchEvent(new CustomEvent("needs-sound", { bubbles: true }));
    });
    const frame = () => {
      if (this.video.srcObject !== stream) return;
      this.lastFrame = performance.now();
      this.video.requestVideoFrameCallback(frame);
    };
    this.video.requestVideoFrameCallback(frame);
  }

  detach() {
    this.video.srcObject = null;
    this.lastFrame = 0;
    this.connected = false;
    this.wasConnected = false;
  }

  setCamera(info) {
    this.connected = Boolean(info?.connected);
    if (this.connected) this.wasConnected = true;
  }

  /** The state shown, from the camera's connection and the frames arriving. */
  update(peerConnected) {
    let state;
    if (!this.connected) state = this.wasConnected ? "lost" : "no_feed";
    else if (peerConnected && performance.now() - this.lastFrame < STALE_MS) state = "live";
    else state = "connecting";
    if (this.el.dataset.state !== state) {
      this.el.dataset.state = state;
      // A second camera that never connected takes no room.
      if (this.name === "secondary") this.el.hidden = state === "no_feed";
      this.stateEl.textContent = t(`wall.spot.${state}`);
    }
    return state;
  }

  render() {
    if (this.el.dataset.state) this.stateEl.textContent = t(`wall.spot.${this.el.dataset.state}`);
  }
}

export class Spotlight {
  constructor(examId) {
    // A connection of its own per candidate watched, with c=<candidate id>: the load
    // balancer sends it to the node that has the candidate's cameras (lib/socketio.js).
    this.socket = null;
    this.examId = examId;
    this.tile = null; // the candidate watched, while the panel is open
    this.sessionId = null;
    this.iceServers = []; // the server's word (open_session): TURN for strict networks
    this.pc = null;
    this.generation = 0; // bumped at each close: late answers of an old opening are dropped
    this.error = null;
    this.withdrawn = false; // the server closed the view (viewer_closed): do not reopen it
    this._queue = Promise.resolve();
    this._retry = null;
    this._ticker = null;
    this.panes = Object.fromEntries(CAMERAS.map((name) => [name, new CameraPane(name)]));
    this.title = h("h2", { class: "spot-name", testid: "spot-name" });
    this.where = h("span", { class: "spot-where", testid: "spot-where" });
    this.message = h("p", { class: "notice spot-message", testid: "spot-message", hidden: true,
      dataset: { kind: "error" } });
    this.soundButton = h("button", { type: "button", class: "secondary small", testid: "spot-sound",
      i18n: "wall.spot.sound", hidden: true, onclick: () => this._sound() });
    this.el = h("section", { class: "spotlight", testid: "spotlight", hidden: true,
      role: "dialog", "aria-labelledby": "spot-name" },
    h("header", { class: "spot-head" },
      h("div", { class: "spot-title" }, this.title, this.where),
      this.soundButton,
      h("button", { type: "button", class: "secondary small", testid: "spot-close",
        i18n: "wall.spot.close", onclick: () => this.close() })),
    h("div", { class: "spot-videos" }, CAMERAS.map((name) => this.panes[name].el)),
    this.message);
    this.title.id = "spot-name";
    this.incidents = new SpotlightIncidents(examId); // the candidate's incidents (issue #13)
    this.el.append(this.incidents.el);
    this.el.addEventListener("needs-sound", () => {
      this.soundButton.hidden = false;
    });
    addEventListener("pagehide", () => this.close());
    addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.tile) this.close();
    });
  }

  get open() {
    return this.tile !== null;
  }

  /** Watch ``tile``'s candidate (closing whoever was watched before); ``where`` they are. */
  async show(tile, where = "") {
    if (this.tile?.candidate_id === tile.candidate_id) return;
    await this.close();
    this.tile = tile;
    this.el.hidden = false;
    this.el.dataset.candidateId = tile.candidate_id;
    this.render(where);
    this.incidents.show(tile);
    for (const pane of Object.values(this.panes)) pane.update(false);
    this._ticker = setInterval(() => this._update(), 500);
    this.socket = this._connect(tile.candidate_id); // "connect" opens the view
  }

  _connect(candidateId) {
    const socket = new SocketClient({ route: candidateId });
    const mine = (fn) => (...args) => {
      if (socket === this.socket) fn(...args);
    };
    socket.on("viewer_state", mine((msg) => this._onViewerState(msg)));
    socket.on("viewer_closed", mine((msg) => this._onViewerClosed(msg)));
    // The server ends a viewer session with its connection: open a new one when back.
    socket.on("disconnect", mine(() => {
      this.sessionId = null;
    }));
    socket.on("connect", mine(() => {
      if (this.tile && !this.withdrawn) this._run(() => this._open(this.generation));
    }));
    socket.on("connect_error", mine((err) => this._failed(new ServerError("refused", err.message))));
    socket.connect().catch(() => {});
    return socket;
  }

  /** The wall's newer data of the candidate watched (name, where they are). */
  updateTile(tile, where) {
    if (this.tile && tile.candidate_id === this.tile.candidate_id) {
      this.tile = tile;
      this.render(where);
      this.incidents.update(tile);
    }
  }

  render(where = null) {
    if (!this.tile) return;
    this.title.textContent = this.tile.name;
    if (where !== null) this.where.textContent = where;
    for (const pane of Object.values(this.panes)) pane.render();
    this.incidents.render();
    if (this.error) this.message.textContent = this.error();
  }

  async close() {
    const sessionId = this.sessionId;
    this.generation += 1;
    this.tile = null;
    this.sessionId = null;
    this.error = null;
    this.incidents.close();
    this.withdrawn = false;
    clearTimeout(this._retry);
    clearInterval(this._ticker);
    if (this.pc) this.pc.close();
    this.pc = null;
    for (const pane of Object.values(this.panes)) pane.detach();
    this.message.hidden = true;
    this.soundButton.hidden = true;
    this.el.hidden = true;
    delete this.el.dataset.state;
    const socket = this.socket;
    this.socket = null;
    if (sessionId && socket?.connected) {
      await request(socket, "close_session", { session_id: sessionId }).catch(() => {});
    }
    socket?.close();
  }

  // -- internals ---------------------------------------------------------------------------

  _run(step) {
    this._queue = this._queue.then(step).catch((err) => this._failed(err));
    return this._queue;
  }

  _failed(err) {
    if (!this.tile || this.withdrawn) return; // a closed view's late failure changes nothing
    if (err instanceof SocketError && err.code === "disconnected") return; // "connect" reopens
    if (err instanceof ServerError && err.code === "not_found" && this.sessionId) {
      this.sessionId = null; // the session is gone (closed by the server): open a new one
      this._later(() => this._open(this.generation));
      return;
    }
    const code = err instanceof ServerError ? err.code : "failed";
    const message = err?.message || String(err);
    const known = ["forbidden", "conflict", "refused"].includes(code); // refused: the socket's
    this.error = () => t(`wall.spot.err.${known ? code : "failed"}`, { message });
    this.message.textContent = this.error();
    this.message.hidden = false;
    this.el.dataset.state = "failed";
    if (!known) {
      this._later(() => (this.sessionId ? this._negotiate(this.generation)
        : this._open(this.generation)));
    }
  }

  _later(step, delay = RETRY_MS) {
    clearTimeout(this._retry);
    const generation = this.generation;
    this._retry = setTimeout(() => {
      if (generation === this.generation && this.tile) this._run(step);
    }, delay);
  }

  async _open(generation) {
    if (generation !== this.generation || !this.tile) return;
    const socket = this.socket;
    const opened = await request(socket, "open_session", {
      role: "viewer", exam_id: this.examId, candidate_id: this.tile.candidate_id,
    });
    if (generation !== this.generation) {
      await request(socket, "close_session", { session_id: opened.session_id })
        .catch(() => {});
      return;
    }
    this.sessionId = opened.session_id;
    this.iceServers = opened.ice_servers || []; // TURN, with this page's credentials
    this.el.dataset.sessionId = opened.session_id;
    this._setCameras(opened.cameras);
    await this._negotiate(generation);
  }

  async _negotiate(generation) {
    if (generation !== this.generation || !this.sessionId) return;
    if (this.pc) this.pc.close();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    const transceivers = SECTIONS.map(([kind]) => pc.addTransceiver(kind, { direction: "recvonly" }));
    pc.addEventListener("connectionstatechange", () => this._onPeerState(pc));
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    const answer = await request(this.socket, "offer", {
      session_id: this.sessionId, type: "offer", sdp: pc.localDescription.sdp,
    });
    if (pc !== this.pc || generation !== this.generation) return; // replaced meanwhile
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    // Which camera each section carries: the answer says, by mid (else the documented order).
    const byMid = new Map((answer.tracks || []).map((track) => [track.mid, track.camera]));
    const streams = Object.fromEntries(CAMERAS.map((name) => [name, new MediaStream()]));
    transceivers.forEach((transceiver, i) => {
      const camera = byMid.get(transceiver.mid) || SECTIONS[i][1];
      streams[camera].addTrack(transceiver.receiver.track);
    });
    for (const name of CAMERAS) this.panes[name].attach(streams[name]);
    this.error = null;
    this.message.hidden = true;
  }

  _setCameras(cameras) {
    for (const name of CAMERAS) {
      this.panes[name].setCamera((cameras || []).find((c) => c.camera === name));
    }
    this._update();
  }

  _onViewerState(msg) {
    if (!this.tile || msg.session_id !== this.sessionId) return;
    this._setCameras(msg.cameras);
    if (msg.reoffer) {
      const generation = this.generation;
      this._run(() => this._negotiate(generation));
    }
  }

  /** The server closed the view: this account may no longer watch the candidate. */
  _onViewerClosed(msg) {
    if (!this.tile || msg.session_id !== this.sessionId) return;
    this.generation += 1; // steps under way (an offer, a retry) are dropped
    this.withdrawn = true;
    this.sessionId = null;
    clearTimeout(this._retry);
    if (this.pc) this.pc.close();
    this.pc = null;
    for (const pane of Object.values(this.panes)) pane.detach();
    const message = msg.error?.message || "";
    this.error = () => t("wall.spot.err.withdrawn", { message });
    this.message.textContent = this.error();
    this.message.hidden = false;
    this.el.dataset.state = "failed";
    for (const pane of Object.values(this.panes)) pane.update(false);
  }

  _onPeerState(pc) {
    if (pc !== this.pc) return;
    this._update();
    if (pc.connectionState === "failed") this._later(() => this._negotiate(this.generation));
    else if (pc.connectionState === "disconnected") {
      this._later(() => (pc === this.pc && pc.connectionState !== "connected"
        ? this._negotiate(this.generation) : null), DISCONNECTED_MS);
    }
  }

  _update() {
    if (!this.tile) return;
    const peer = this.pc?.connectionState === "connected";
    const states = CAMERAS.map((name) => this.panes[name].update(peer));
    if (this.el.dataset.state === "failed" && this.error) return;
    let state = "connecting";
    if (states.includes("live")) state = "live";
    else if (states[0] === "lost") state = "lost";
    this.el.dataset.state = state;
  }

  _sound() {
    for (const pane of Object.values(this.panes)) {
      pane.video.muted = false;
      pane.video.play().catch(() => {});
    }
    this.soundButton.hidden = true;
  }
}
