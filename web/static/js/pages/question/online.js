// 在线录制: a question answered on camera, recorded by the server.
//
// The page keeps the candidate's primary media session connected the whole
// time (the same session across the exam's pages, kept in sessionStorage):
// the server starts recording it by itself when a reading time runs out, and
// stops it at the take's deadline. Socket events (take_started / take_stopped
// / take_stored / take_failed, with the take's attempt_id) make the page load
// the question again; after a reconnect it asks GET /api/recording too.
//
// States (<body data-state>), derived from the server's answer:
//   intro → [rehearsal: reading → recording → saving → rehearsal-review
//            → rehearsal-playback → intro]
//         → formal: reading → recording → saving → answering
//           (choose a take 已选, materials, record again, submit) → submitted
//   closed: the submission time ran out.
//
// This module: the answer's parts, its wiring and the candidate's steps. What the
// page shows is in pages/question/online-view.js; the camera, the connection, the take
// events and playback in pages/question/online-media.js (OnlineAnswer extends both).

import { api } from "../../lib/api.js";
import "../../components/dual-playback.js";
import { t } from "../../lib/i18n.js";
import { TakePlayer } from "../../lib/playback.js";
import { retakeText } from "../../lib/take-report.js";
import { formalText, recordAgainText, stopText, submitTakeText } from "./dialogs.js";
import { Materials } from "./materials.js";
import { OnlineMedia } from "./online-media.js";
import { PageWatch } from "./page-watch.js";
import { SecondCamera } from "./second.js";
import { SocketClient } from "../../lib/socketio.js";
import { $ } from "../../lib/dom.js";

export class OnlineAnswer extends OnlineMedia {
  constructor(ctx) {
    super();
    this.ctx = ctx;
    this.ui = {
      panel: $("online"), stage: $("stage"), preview: $("preview"), playback: $("playback"),
      readingOverlay: $("reading-overlay"), readingLabel: $("reading-label"),
      readingCountdown: $("reading-countdown"), readingHint: $("reading-hint"),
      recBadge: $("rec-badge"), recLabel: $("rec-label"), recElapsed: $("rec-elapsed"),
      recLeft: $("rec-left"), message: $("message"), counts: $("counts"),
      rehearse: $("rehearse"), formal: $("enter-formal"), start: $("start-recording"),
      stop: $("stop-recording"), playRehearsal: $("play-rehearsal"),
      closePlayback: $("close-playback"), leaveRehearsal: $("leave-rehearsal"),
      retryCamera: $("retry-camera"), second: $("second-camera"), works: $("works"),
      worksTitle: $("works-title"), worksHint: $("works-hint"), workList: $("work-list"), materials: $("materials"),
      recordAgain: $("record-again"), submit: $("submit"), connection: $("connection"),
      connText: document.querySelector(".conn-text"), reconnect: $("reconnect-now"),
      dual: $("dual"), takeReport: $("take-report"),
    };
    this.socket = new SocketClient();
    this.uplink = null;
    this.stream = null;
    this.cameraError = null; // {key, detail} when the camera cannot be used
    this.media = new Map(); // take id → the media layer's summary (state, manifest)
    this.player = new TakePlayer(this.ui.playback, () => this.playbackEnded());
    // 需二机位: both cameras of a take side by side, one control (and the phone's QR code).
    this.dual = this.ui.dual; // <dual-playback>
    this.dual.addEventListener("playback-ended", () => this.playbackEnded());
    this.second = new SecondCamera(ctx, this.socket);
    this.pageWatch = new PageWatch(this.socket); // hidden, window left... told to the server
    this.playing = null; // {take_id, kind, dual} being played back here
    this.stopping = false;
    this.guarded = false;
    this.releaseScreen = null;
    this.connectedBefore = false;
    this.busyElsewhere = null; // another question being read or recorded
    this.materials = new Materials(ctx, $("material-list"));
  }
  // -- wiring -----------------------------------------------------------------------------

  async start() {
    const { ui } = this;
    // c=: the load balancer's node for this candidate's media; connecting waits for it.
    this.socket.routeTo(api("GET", "/api/me").then(({ account }) => account.id));
    ui.rehearse.addEventListener("click", () => this.rehearse());
    ui.formal.addEventListener("click", () => this.enterFormal());
    ui.start.addEventListener("click", () => this.startTake());
    ui.stop.addEventListener("click", () => this.stopTake());
    ui.playRehearsal.addEventListener("click", () => {
      const take = this.rehearsalToReview();
      if (take) this.play(take, "rehearsal");
    });
    ui.closePlayback.addEventListener("click", () => {
      if (this.playing?.kind === "rehearsal") this.endRehearsalPlayback();
      else this.closePlayback();
    });
    ui.leaveRehearsal.addEventListener("click", () => this.leaveRehearsal());
    ui.retryCamera.addEventListener("click", () => this.openCamera());
    ui.reconnect.addEventListener("click", () => this.uplink?.retryNow());
    ui.recordAgain.addEventListener("click", () => this.recordAgain());
    ui.submit.addEventListener("click", () => this.submit());
    ui.playback.addEventListener("error", () => this.playbackFailed());
    ui.dual.primary.addEventListener("error", () => this.playbackFailed());
    for (const video of [ui.preview, ui.playback]) {
      video.addEventListener("resize", () => this.fitStage());
    }
    for (const event of ["take_started", "take_stopped", "take_stored", "take_failed"]) {
      this.socket.on(event, (take) => this.onTake(event, take));
    }
    // A damaged formal take granted one more (issue #18): say why, load the counts again.
    this.socket.on("retake_granted", (body) => {
      if (body.attempt_id !== this.a?.attempt_id) return;
      this.ctx.notify({ text: retakeText(body), kind: "info" });
      this.ctx.refresh();
    });
    this.socket.on("connect", () => {
      if (this.connectedBefore) this.resync(); // events sent while away were lost
      this.connectedBefore = true;
    });
    this.socket.on("connect_error", () => this.ctx.refresh()); // a 401 goes to the login page
    // The heartbeat's round trip keeps the countdowns on the server's clock.
    this.socket.on("heartbeat", ({ result, sentAt, receivedAt }) => {
      this.ctx.clock.syncRtt?.(result.now, sentAt, receivedAt);
    });
    this.second.start();
    // A take of this question records as the page loads: it was reloaded (or reopened).
    this.pageWatch.start({ reloaded: Boolean(this.a?.recording) });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.guarded) {
        this.guarded = false;
        this.guard(true); // the browser drops the wake lock when the page is hidden
      }
    });
    this.resync();
    if (!["submitted", "closed"].includes(this.q.phase) && this.ctx.exam.state !== "closed") {
      await this.openCamera();
    }
  }
  // -- steps ------------------------------------------------------------------------------

  rehearse() {
    return this.ctx.call(() => api("POST", this.ctx.path("/rehearsal")));
  }

  async enterFormal() {
    const ok = await this.ctx.confirm(formalText(this.s), t("exam.btn.formal"));
    if (ok) await this.ctx.call(() => api("POST", this.ctx.path("/formal")));
  }

  startTake() {
    const kind = this.a?.reading?.kind || "formal";
    return this.ctx.call(() => api("POST", this.ctx.path("/takes"), { kind }), {
      // Started by hand before the second camera tapped Ready (M3.5): say so in words.
      handle: (err) => {
        const second = kind === "formal" && this.s.second_camera_required;
        if (!second || err.code !== "conflict" || err.details?.question_id) return false;
        this.ctx.notify({ key: "exam.err.secondNotReady", kind: "error" });
        return true;
      },
    });
  }

  async recordAgain() {
    const ok = await this.ctx.confirm(recordAgainText(this.formalLeft()),
      t("exam.btn.recordAgain"));
    if (ok) await this.startTake();
  }

  async stopTake() {
    const take = this.a?.recording;
    if (!take) return;
    const ok = await this.ctx.confirm(stopText(), t("exam.btn.stop"), true);
    if (!ok || this.a?.recording?.take_id !== take.take_id) return; // ended meanwhile
    this.stopping = true;
    const path = this.ctx.path(`/takes/${encodeURIComponent(take.take_id)}/stop`);
    const result = await this.ctx.call(() => api("POST", path), {
      // Stopped by the server meanwhile (its time limit): the page catches up.
      handle: (err) => {
        if (err.status !== 409) return false;
        this.ctx.refresh();
        return true;
      },
    });
    this.stopping = false;
    if (result?.take) this.media.set(result.take.take_id, result.take);
    this.ctx.render();
  }

  leaveRehearsal() {
    this.closePlayback();
    return this.ctx.call(() => api("POST", this.ctx.path("/rehearsal/leave")));
  }

  choose(take) {
    return this.ctx.call(() => api("POST", this.ctx.path("/choice"), { take_id: take.take_id }));
  }

  async submit() {
    if (!(await this.materials.flush())) return;
    const missing = this.materials.missing();
    if (missing.length) {
      this.ctx.notify({ key: "exam.materials.missing", params: { what: missing.join("、") },
        kind: "error" });
      return;
    }
    const n = this.formalTakes().findIndex((x) => x.take_id === this.a.chosen_take_id) + 1;
    const ok = await this.ctx.confirm(submitTakeText(n), t("exam.btn.submit"));
    if (ok) await this.ctx.call(() => api("POST", this.ctx.path("/submit")));
  }
}
