// What the question page tells the server about itself (issue #13): the page was hidden
// (another tab, minimised), the window lost the focus (another program), fullscreen was
// left. The server times each event as it arrives and, during a question, raises an
// incident the proctors see; the end of each ("visible", "window_back",
// "fullscreen_back") ends it. "reloaded": the page loaded while a take of its question
// was recording (a reload, or the question opened again); the server cannot tell a reload
// from a network blip (the page resumes its camera session either way), so the page
// says it, and the server counts it only if a take is recording when it arrives.
//
// Only changes are sent. Events while the socket is down are lost; on reconnecting the
// page says again where it is, if it is away, and the server times it then.

const CONDITIONS = {
  hidden: ["hidden", "visible"],
  window: ["window_left", "window_back"],
  fullscreen: ["fullscreen_left", "fullscreen_back"],
};

export class PageWatch {
  constructor(socket) {
    this.socket = socket;
    this.away = { hidden: false, window: false, fullscreen: false };
    this.inFullscreen = Boolean(document.fullscreenElement);
  }

  /** ``reloaded``: a take of this question was recording when the page loaded. */
  start({ reloaded = false } = {}) {
    this.reloaded = reloaded; // said once, at the first connection
    document.addEventListener("visibilitychange", () =>
      this.set("hidden", document.visibilityState === "hidden"));
    addEventListener("blur", () => this.set("window", true));
    addEventListener("focus", () => this.set("window", false));
    document.addEventListener("fullscreenchange", () => {
      // Each event is one change, so they alternate; one may be dispatched late, once the
      // state has moved on (an entry already left again). A state seen as "in" is sure.
      this.inFullscreen = Boolean(document.fullscreenElement) || !this.inFullscreen;
      this.set("fullscreen", !this.inFullscreen);
    });
    this.socket.on("connect", () => this.connected());
    if (this.socket.connected) this.connected();
    if (document.visibilityState === "hidden") this.set("hidden", true);
  }

  connected() {
    if (this.reloaded) {
      this.reloaded = false;
      this.call("reloaded");
    }
    for (const [name, away] of Object.entries(this.away)) if (away) this.send(name, true);
  }

  set(name, away) {
    if (this.away[name] === away) return;
    this.away[name] = away;
    this.send(name, away);
  }

  send(name, away) {
    if (this.socket.connected) this.call(CONDITIONS[name][away ? 0 : 1]);
    // else: said again on reconnecting, if still away
  }

  call(kind) {
    this.socket.call("page_event", { kind }).catch(() => {}); // the proctors' matter
  }
}
