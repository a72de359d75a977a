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

import { api } from "./api.js";
import { DualPlayer, hasSecondCamera } from "./dual-playback.js";
import { $, clock, duration, holdScreen, shortTime } from "./exam-common.js";
import { t } from "./i18n.js";
import { mediaErrorKey, mediaSupport, openCameraAndMic } from "./media.js";
import { TakePlayer } from "./playback.js";
import { Materials } from "./question-materials.js";
import { SecondCamera } from "./question-second.js";
import { SocketClient } from "./socketio.js";
import { Uplink } from "./uplink.js";

const SESSION_KEY = "examcast.primarySession";
const EXAM_PURPOSES = ["rehearsal", "formal"];
const GUARDED = ["reading", "recording", "saving"]; // leaving the page asks first

function warnOnLeave(event) {
  event.preventDefault();
  event.returnValue = ""; // older browsers need it set
}

export class OnlineAnswer {
  constructor(ctx) {
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
      connText: document.querySelector(".conn-text"),
      dual: $("dual"), dualPrimary: $("dual-primary"),
    };
    this.socket = new SocketClient();
    this.uplink = null;
    this.stream = null;
    this.cameraError = null; // {key, detail} when the camera cannot be used
    this.media = new Map(); // take id → the media layer's summary (state, manifest)
    this.player = new TakePlayer(this.ui.playback, () => this.playbackEnded());
    // 需二机位: both cameras of a take side by side, one control (and the phone's QR code).
    this.dual = new DualPlayer({
      primary: this.ui.dualPrimary, secondary: $("dual-secondary"), root: this.ui.dual,
      toggle: $("dual-toggle"), seek: $("dual-seek"), time: $("dual-time"),
    }, () => this.playbackEnded());
    this.second = new SecondCamera(ctx, this.socket);
    this.playing = null; // {take_id, kind, dual} being played back here
    this.stopping = false;
    this.guarded = false;
    this.releaseScreen = null;
    this.connectedBefore = false;
    this.busyElsewhere = null; // another question being read or recorded
    this.materials = new Materials(ctx, $("material-list"));
  }

  // -- what the page shows ----------------------------------------------------------------

  get q() {
    return this.ctx.q;
  }

  get a() {
    return this.ctx.q.attempt;
  }

  get s() {
    return this.ctx.q.settings;
  }

  formalTakes() {
    return (this.a?.takes || []).filter((x) => x.kind === "formal" && !x.recording);
  }

  /** The rehearsal that may be played back now (once), if any. */
  rehearsalToReview() {
    const last = this.a?.takes?.at(-1);
    return last && last.kind === "rehearsal" && last.playback === "available" ? last : null;
  }

  state() {
    const { q, a } = this;
    if (q.phase === "submitted") return "submitted";
    if (q.phase === "closed") return "closed";
    if (this.stopping) return "saving";
    if (a?.recording) return "recording";
    if (this.playing?.kind === "rehearsal") return "rehearsal-playback";
    if (a?.reading) return "reading";
    if (this.rehearsalToReview()) return "rehearsal-review";
    if (a?.entered_at) return "answering";
    return "intro";
  }

  connected() {
    return this.uplink?.state === "connected";
  }

  rehearsalsLeft() {
    if (!this.s.rehearsal_allowed) return 0;
    return this.a?.rehearsals?.remaining ?? this.s.rehearsal_count;
  }

  formalLeft() {
    return this.a?.formal?.remaining ?? this.s.formal_count;
  }

  message(st) {
    const { a, s, ctx } = this;
    const time = (ts) => shortTime(ts, ctx.clock);
    if (st === "submitted") {
      const key = a.submitted_by === "auto" ? "exam.msg.autoSubmitted" : "exam.msg.submitted";
      return t(key, { time: time(a.submitted_at) });
    }
    if (st === "closed") return t("exam.msg.closed", { time: time(a.submission_deadline) });
    if (ctx.exam.state === "upcoming") {
      return t("exam.msg.notOpen", { time: time(ctx.exam.opens_at) });
    }
    if (ctx.exam.state === "closed") return t("exam.msg.examClosed");
    if (this.cameraError) return t("exam.msg.noCamera");
    switch (st) {
      case "intro":
        if (!this.connected()) return t("exam.msg.waitCamera");
        return this.rehearsalsLeft() > 0 ? t("exam.msg.introRehearse", { n: this.rehearsalsLeft() })
          : t("exam.msg.intro");
      case "reading": {
        const kind = a.reading.kind === "rehearsal" ? "Rehearsal" : "Formal";
        return t(a.reading.deadline == null ? `exam.msg.readingUnlimited${kind}`
          : `exam.msg.reading${kind}`);
      }
      case "recording":
        return t(a.recording.kind === "rehearsal" ? "exam.msg.recordingRehearsal"
          : "exam.msg.recordingFormal");
      case "saving":
        return t("exam.msg.saving");
      case "rehearsal-review":
        return t("exam.msg.rehearsalReview");
      case "rehearsal-playback":
        return t("exam.msg.rehearsalPlayback");
      default:
        return this.answeringMessage();
    }
  }

  answeringMessage() {
    const { a, s } = this;
    const works = this.formalTakes();
    if (s.auto_submit && works.length) return t("exam.msg.autoSubmitting");
    if (!works.length) {
      return this.formalLeft() > 0 ? t("exam.msg.noTake") : t("exam.msg.noTakeLeft");
    }
    const left = this.formalLeft();
    const missing = this.materials.missing();
    let text;
    if (!a.chosen_take_id) text = t("exam.msg.choose");
    else {
      const n = works.findIndex((x) => x.take_id === a.chosen_take_id) + 1;
      text = missing.length ? t("exam.msg.chosenMissing", { n, what: missing.join("、") })
        : t("exam.msg.chosen", { n });
    }
    return left > 0 ? `${text} ${t("exam.msg.orAgain", { n: left })}` : text;
  }

  // -- rendering --------------------------------------------------------------------------

  render() {
    const { ui, a, s, ctx } = this;
    const st = ctx.state;
    const open = ctx.exam.state === "open";
    const live = !["submitted", "closed"].includes(st);
    const can = open && !ctx.busy && !this.cameraError;
    ui.panel.hidden = false;

    ui.stage.hidden = !(live || this.playing);
    const dual = Boolean(this.playing?.dual);
    ui.preview.hidden = Boolean(this.playing);
    ui.playback.hidden = !this.playing || dual;
    ui.dual.hidden = !dual;
    ui.stage.dataset.dual = String(dual);
    if (dual) this.dual.render(); // its button's words (after a language switch)
    this.fitStage();
    ui.readingOverlay.hidden = st !== "reading";
    ui.recBadge.hidden = st !== "recording";
    ui.message.textContent = this.message(st);
    ui.counts.hidden = !live;
    ui.counts.textContent = s.rehearsal_allowed
      ? t("exam.counts", {
        r: a?.rehearsals?.used ?? 0, rAll: s.rehearsal_count,
        f: a?.formal?.used ?? 0, fAll: s.formal_count,
      })
      : t("exam.countsFormal", { f: a?.formal?.used ?? 0, fAll: s.formal_count });

    const ready = can && this.connected();
    ui.rehearse.hidden = !(st === "intro" && this.rehearsalsLeft() > 0);
    ui.rehearse.disabled = !ready;
    ui.formal.hidden = st !== "intro";
    ui.formal.disabled = !ready;
    const startable = st === "reading"
      || (st === "answering" && !this.formalTakes().length && this.formalLeft() > 0);
    ui.start.hidden = !startable;
    ui.start.disabled = !ready || this.second.blocksFormal(a?.reading?.kind || "formal");
    ui.start.textContent = t(st === "reading" && a.reading.deadline != null
      ? "exam.btn.startEarly" : "exam.btn.start");
    ui.stop.hidden = st !== "recording";
    ui.stop.disabled = ctx.busy;
    ui.playRehearsal.hidden = st !== "rehearsal-review";
    ui.playRehearsal.disabled = ctx.busy;
    ui.closePlayback.hidden = this.playing?.kind !== "formal";
    ui.leaveRehearsal.hidden = !(st === "rehearsal-review"
      || (st === "reading" && a.reading.kind === "rehearsal"));
    ui.leaveRehearsal.disabled = ctx.busy;
    ui.retryCamera.hidden = !this.cameraError || !live;

    this.second.render(st);
    this.renderWorks(st);
    ui.materials.hidden = !(s.materials.length && ["answering", "submitted", "closed"].includes(st));
    if (!ui.materials.hidden) this.materials.render(st === "answering" && open);

    ui.recordAgain.hidden = !(st === "answering" && this.formalTakes().length
      && this.formalLeft() > 0 && !s.auto_submit);
    ui.recordAgain.disabled = !ready || this.second.blocksFormal("formal");
    ui.submit.hidden = !(st === "answering" && !s.auto_submit && this.formalTakes().length);
    ui.submit.disabled = !open || ctx.busy || !a?.chosen_take_id;

    const conn = this.uplink ? this.uplink.state : "connecting";
    ui.connection.hidden = !live || Boolean(this.cameraError);
    ui.connection.dataset.state = conn;
    ui.connText.textContent = t(`conn.${conn}`);
    this.guard(GUARDED.includes(st));
    if (!live && this.stream && !this.playing) this.releaseCamera();
    this.tick();
  }

  renderWorks(st) {
    const { ui, a, s } = this;
    const works = this.formalTakes();
    ui.works.hidden = !works.length;
    if (!works.length) return;
    const choosing = st === "answering" && !s.auto_submit && this.ctx.exam.state === "open";
    let hint = s.formal_playback_allowed ? "exam.works.playbackYes" : "exam.works.playbackNo";
    if (st === "submitted") hint = "exam.works.submitted";
    else if (st === "closed") hint = "exam.works.closed";
    else if (s.auto_submit) hint = "exam.works.auto";
    ui.worksTitle.textContent = t(choosing ? "exam.works.title" : "exam.works.titleDone");
    ui.worksHint.textContent = t(hint);
    ui.workList.replaceChildren(...works.map((take, i) => this.workRow(take, i + 1, choosing)));
  }

  workRow(take, n, choosing) {
    const li = document.createElement("li");
    li.className = "work";
    li.dataset.testid = "work";
    li.dataset.takeId = take.take_id;
    li.dataset.chosen = String(take.chosen);
    const head = document.createElement("div");
    head.className = "work-head";
    const name = document.createElement("strong");
    name.textContent = t("exam.works.nth", { n });
    head.append(name);
    if (take.chosen) {
      const chosen = document.createElement("span");
      chosen.className = "badge";
      chosen.dataset.kind = "ok";
      chosen.dataset.testid = "chosen";
      chosen.textContent = t("exam.works.chosen");
      head.append(chosen);
    }
    const meta = document.createElement("p");
    meta.className = "muted work-meta";
    const parts = [
      t("exam.works.length", { d: duration((take.stopped_at ?? take.started_at) - take.started_at) }),
      t("exam.works.at", { time: shortTime(take.started_at, this.ctx.clock) }),
    ];
    const reason = take.stop_reason;
    if (reason && reason !== "stopped") {
      const known = ["time_limit", "connection_lost"].includes(reason);
      parts.push(t(`exam.works.stop.${known ? reason : "other"}`));
    }
    if (take.media_failed) parts.push(t("exam.works.failed"));
    meta.textContent = parts.join(" · ");
    const actions = document.createElement("div");
    actions.className = "work-actions";
    if (choosing && !take.chosen && !take.media_failed) {
      actions.append(this.button("choose", "exam.works.choose", () => this.choose(take)));
    }
    if (take.playback === "allowed" && !take.media_failed) {
      const playing = this.playing?.take_id === take.take_id;
      const play = this.button("play-work", playing ? "exam.works.playing" : "exam.works.play",
        () => this.play(take, "formal"));
      play.disabled = play.disabled || playing;
      actions.append(play);
    }
    li.append(head, meta, actions);
    return li;
  }

  button(testid, key, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary small";
    b.dataset.testid = testid;
    b.textContent = t(key);
    b.disabled = this.ctx.busy;
    b.addEventListener("click", onClick);
    return b;
  }

  /** The stage takes the shape of the video it shows (a phone's camera may be portrait). */
  fitStage() {
    if (this.playing?.dual) {
      this.ui.stage.style.aspectRatio = ""; // two videos: the stage lays them out itself
      return;
    }
    const video = this.ui.playback.hidden ? this.ui.preview : this.ui.playback;
    if (video.videoWidth && video.videoHeight) {
      this.ui.stage.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
    }
  }

  /** Countdowns, four times a second. */
  tick() {
    const { ui, a, ctx } = this;
    const st = ctx.state;
    this.second.tick();
    if (st === "reading") {
      const kind = a.reading.kind;
      ui.readingLabel.textContent = t(kind === "rehearsal" ? "exam.reading.rehearsal"
        : "exam.reading.formal");
      if (a.reading.deadline == null) {
        ui.readingCountdown.textContent = t("exam.set.unlimited");
        ui.readingHint.textContent = t("exam.reading.byHand");
      } else {
        const left = ctx.clock.left(a.reading.deadline);
        ui.readingCountdown.textContent = clock(left);
        ui.readingCountdown.dataset.seconds = String(Math.max(0, Math.ceil(left)));
        ui.readingHint.textContent = t(left > 0 ? "exam.reading.auto" : "exam.reading.starting");
      }
    }
    if (st === "recording") {
      const take = a.recording;
      const elapsed = ctx.clock.now() - take.started_at;
      ui.recLabel.textContent = t(take.kind === "rehearsal" ? "exam.rec.rehearsal"
        : "exam.rec.formal");
      ui.recElapsed.textContent = clock(elapsed, false);
      ui.recElapsed.dataset.seconds = String(Math.max(0, Math.floor(elapsed)));
      ui.recLeft.textContent = t("exam.rec.left", { left: clock(ctx.clock.left(take.deadline)) });
    }
  }

  /** Ask before leaving and keep the screen on while reading or recording. */
  async guard(on) {
    if (on === this.guarded) return;
    this.guarded = on;
    if (on) {
      addEventListener("beforeunload", warnOnLeave);
      this.releaseScreen = await holdScreen();
      if (!this.guarded) this.releaseScreen(); // ended meanwhile
    } else {
      removeEventListener("beforeunload", warnOnLeave);
      this.releaseScreen?.();
      this.releaseScreen = null;
    }
  }

  // -- camera and connection ----------------------------------------------------------------

  async start() {
    const { ui } = this;
    ui.rehearse.addEventListener("click", () => this.rehearse());
    ui.formal.addEventListener("click", () => this.enterFormal());
    ui.start.addEventListener("click", () => this.startTake());
    ui.stop.addEventListener("click", () => this.stopTake());
    ui.playRehearsal.addEventListener("click", () => {
      const take = this.rehearsalToReview();
      if (take) this.play(take, "rehearsal");
    });
    ui.closePlayback.addEventListener("click", () => this.closePlayback());
    ui.leaveRehearsal.addEventListener("click", () => this.leaveRehearsal());
    ui.retryCamera.addEventListener("click", () => this.openCamera());
    ui.recordAgain.addEventListener("click", () => this.recordAgain());
    ui.submit.addEventListener("click", () => this.submit());
    ui.playback.addEventListener("error", () => this.playbackFailed());
    ui.dualPrimary.addEventListener("error", () => this.playbackFailed());
    for (const video of [ui.preview, ui.playback]) {
      video.addEventListener("resize", () => this.fitStage());
    }
    for (const event of ["take_started", "take_stopped", "take_stored", "take_failed"]) {
      this.socket.on(event, (take) => this.onTake(event, take));
    }
    this.socket.on("connect", () => {
      if (this.connectedBefore) this.resync(); // events sent while away were lost
      this.connectedBefore = true;
    });
    this.socket.on("connect_error", () => this.ctx.refresh()); // a 401 goes to the login page
    this.second.start();
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

  async openCamera() {
    const unsupported = mediaSupport();
    if (unsupported) {
      this.cameraFailed(unsupported);
      return;
    }
    for (const track of this.stream?.getTracks() || []) track.stop();
    try {
      this.stream = await openCameraAndMic();
    } catch (err) {
      console.warn(err);
      this.cameraFailed(mediaErrorKey(err), err.name || String(err));
      return;
    }
    this.cameraError = null;
    this.ctx.notify(null);
    this.ui.preview.srcObject = this.stream;
    for (const track of this.stream.getTracks()) {
      track.addEventListener("ended", () => this.cameraFailed("err.trackEnded"));
    }
    if (this.uplink) {
      this.uplink.stream = this.stream;
      for (const track of this.stream.getTracks()) await this.uplink.replaceTrack(track);
      return;
    }
    this.uplink = new Uplink(this.socket, this.stream, (state) => this.onUplink(state));
    try {
      // The same media session across this exam's pages: a take the server started
      // meanwhile (the reading time ran out) keeps recording into it.
      this.uplink.sessionId = sessionStorage.getItem(SESSION_KEY);
    } catch {
      // storage blocked: a new session
    }
    this.uplink.start();
  }

  /** Submitted or closed: nothing more to record here; the camera goes off. */
  releaseCamera() {
    for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.ui.preview.srcObject = null;
    const uplink = this.uplink;
    this.uplink = null;
    try {
      sessionStorage.removeItem(SESSION_KEY);
    } catch {
      // storage blocked: nothing kept
    }
    Promise.resolve(uplink?.close()).finally(() => this.socket.close());
  }

  cameraFailed(key, detail = "") {
    this.cameraError = { key, detail };
    this.ctx.notify({ key, params: { detail }, kind: "error" });
  }

  onUplink(state) {
    if (state === "connected" && this.uplink.sessionId) {
      try {
        sessionStorage.setItem(SESSION_KEY, this.uplink.sessionId);
      } catch {
        // storage blocked: the next page opens a new session
      }
    }
    this.ctx.render();
  }

  onTake(event, take) {
    if (!EXAM_PURPOSES.includes(take.purpose)) return;
    this.media.set(take.take_id, take);
    const mine = take.attempt_id && take.attempt_id === this.a?.attempt_id;
    if (mine && event === "take_failed") {
      this.ctx.notify({ key: "exam.take.failed", kind: "error" });
    } else if (mine && event === "take_stopped" && take.stop_reason
      && !["stopped", "time_limit"].includes(take.stop_reason)) {
      const known = ["connection_lost", "server_restart"].includes(take.stop_reason);
      this.ctx.notify({ key: `exam.stop.${known ? take.stop_reason : "other"}`, kind: "warning" });
    } else if (mine && event === "take_stopped" && take.stop_reason === "time_limit") {
      this.ctx.notify({ key: "exam.stop.time_limit", kind: "info" });
    }
    this.ctx.refresh();
  }

  /** After a reconnect: what the server is reading or recording now, here or elsewhere. */
  async resync() {
    this.ctx.refresh();
    try {
      const { active } = await api("GET", "/api/recording");
      const other = active.find((x) => x.question_id !== this.ctx.questionId
        || x.exam_id !== this.ctx.examId);
      if (other && other.exam_id === this.ctx.examId) {
        this.ctx.notify({
          key: "exam.busyElsewhere",
          params: { n: other.order, what: t(`exam.phase.${other.phase}`) },
          kind: "warning",
        });
      }
    } catch (err) {
      console.warn(err); // the question's own state is what matters; it is loading
    }
  }

  // -- steps ------------------------------------------------------------------------------

  rehearse() {
    return this.ctx.call(() => api("POST", this.ctx.path("/rehearsal")));
  }

  async enterFormal() {
    const s = this.s;
    const limit = s.submission_limit_s == null ? t("exam.confirm.untilEnd")
      : duration(s.submission_limit_s);
    const reading = s.reading_limit_s == null ? t("exam.confirm.readingByHand")
      : t("exam.confirm.reading", { d: duration(s.reading_limit_s) });
    const ok = await this.ctx.confirm(t("exam.confirm.formal", { limit, reading }),
      t("exam.btn.formal"));
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
    const ok = await this.ctx.confirm(t("exam.confirm.recordAgain", { n: this.formalLeft() }),
      t("exam.btn.recordAgain"));
    if (ok) await this.startTake();
  }

  async stopTake() {
    const take = this.a?.recording;
    if (!take) return;
    const ok = await this.ctx.confirm(t("exam.confirm.stop"), t("exam.btn.stop"), true);
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
    const ok = await this.ctx.confirm(t("exam.confirm.submit", { n }), t("exam.btn.submit"));
    if (ok) await this.ctx.call(() => api("POST", this.ctx.path("/submit")));
  }

  // -- playback ---------------------------------------------------------------------------

  /** The take's summary with its manifest once stored; null while it is still saving. */
  async storedTake(takeId) {
    const known = this.media.get(takeId);
    if (known?.state === "stored" && known.manifest) return known;
    const take = await api("GET", `/api/takes/${encodeURIComponent(takeId)}`);
    this.media.set(takeId, take);
    return take.state === "stored" ? take : null;
  }

  async play(take, kind) {
    let summary;
    try {
      summary = await this.storedTake(take.take_id);
    } catch (err) {
      this.ctx.notify({ text: err.message, kind: "error" });
      return;
    }
    if (!summary) {
      this.ctx.notify({ key: "exam.take.stillSaving", kind: "info" });
      return;
    }
    const dual = hasSecondCamera(summary);
    this.playing = { take_id: take.take_id, kind, dual };
    this.ctx.notify(kind === "rehearsal" ? { key: "exam.rehearsal.once", kind: "info" } : null);
    const player = dual ? this.dual : this.player;
    player.load(summary);
    this.ctx.render();
    player.playFromStart().catch((err) => console.warn(err));
  }

  playbackEnded() {
    const was = this.playing;
    this.playing = null;
    if (was?.kind === "rehearsal") {
      this.ctx.notify({ key: "exam.rehearsal.played", kind: "info" });
      this.ctx.refresh();
    } else {
      this.ctx.render();
    }
  }

  playbackFailed() {
    if (!this.playing) return;
    const key = this.playing.kind === "rehearsal" ? "exam.rehearsal.gone" : "err.playback";
    this.playing = null;
    this.ctx.notify({ key, kind: "error" });
    this.ctx.refresh();
  }

  closePlayback() {
    if (!this.playing) return;
    (this.playing.dual ? this.dual : this.player).pause();
    this.playing = null;
    this.ctx.render();
  }
}
