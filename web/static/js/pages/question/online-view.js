// 在线录制, what the page shows: the state derived from the server's answer (see
// pages/question/online.js for the states), the counts, the message, the buttons, the
// list of formal takes (作品), the countdowns and the leave/screen guard.
//
// The base of OnlineAnswer (pages/question/online-media.js, pages/question/online.js): its
// rows and render call methods of the layers above through `this` (choose, play,
// releaseCamera), and the fields it reads are set in OnlineAnswer's constructor.

import { clock, duration, holdScreen, shortTime } from "../../lib/candidate-page.js";
import { renderLink } from "../../lib/link-status.js";
import { t } from "../../lib/i18n.js";
import { lengthText } from "../../lib/take-length.js";
import { reportLines, retakeText } from "../../lib/take-report.js";

const GUARDED = ["reading", "recording", "saving"]; // leaving the page asks first

function warnOnLeave(event) {
  event.preventDefault();
  event.returnValue = ""; // older browsers need it set
}

export class OnlineView {
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
    if (st === "closed" && a.end_reason) return t("exam.msg.endedByProctor", { time: time(a.closed_at) });
    if (st === "closed") return t("exam.msg.closed", { time: time(a.submission_deadline) });
    if (ctx.exam.state === "upcoming") {
      return t("exam.msg.notOpen", { time: time(ctx.exam.opens_at) });
    }
    if (ctx.exam.state === "closed") return t("exam.msg.examClosed");
    if (this.cameraError) return t("exam.msg.noCamera");
    switch (st) {
      case "intro":
        if (!this.connected()) return t("exam.msg.waitCamera");
        if (this.rehearsalsLeft() > 0) {
          return t("exam.msg.introRehearse", { n: this.rehearsalsLeft() });
        }
        // The submission limit is mentioned only where the question has one.
        return s.submission_limit_s == null ? t("exam.msg.intro")
          : t("exam.msg.introLimit", { d: duration(s.submission_limit_s) });
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
        f: a?.formal?.used ?? 0, fAll: a?.formal?.allowed ?? s.formal_count,
      })
      : t("exam.countsFormal", { f: a?.formal?.used ?? 0,
        fAll: a?.formal?.allowed ?? s.formal_count }); // with extra takes granted (#18)

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
    // Any playback can be ended; a rehearsal's ends for good (its one playback).
    ui.closePlayback.hidden = !this.playing;
    ui.closePlayback.disabled = ctx.busy;
    ui.closePlayback.textContent = t(this.playing?.kind === "rehearsal" ? "exam.btn.endPlayback"
      : "exam.btn.closePlayback");
    ui.leaveRehearsal.hidden = !(st === "rehearsal-review"
      || (st === "reading" && a.reading.kind === "rehearsal"));
    ui.leaveRehearsal.disabled = ctx.busy;
    ui.retryCamera.hidden = !this.cameraError || !live;

    this.second.render(st);
    this.renderReport(st);
    this.renderWorks(st);
    ui.materials.hidden = !(s.materials.length && ["answering", "submitted", "closed"].includes(st));
    if (!ui.materials.hidden) this.materials.render(st === "answering" && open);

    ui.recordAgain.hidden = !(st === "answering" && this.formalTakes().length
      && this.formalLeft() > 0 && !s.auto_submit);
    ui.recordAgain.disabled = !ready || this.second.blocksFormal("formal");
    ui.submit.hidden = !(st === "answering" && !s.auto_submit && this.formalTakes().length);
    ui.submit.disabled = !open || ctx.busy || !a?.chosen_take_id;

    ui.connection.hidden = !live || Boolean(this.cameraError);
    this.renderConnection();
    this.guard(GUARDED.includes(st));
    if (!live && this.stream && !this.playing) this.releaseCamera();
    this.tick();
  }

  /** Right after a take: what the server received of it, plainly (issue #18), and why an
   * extra formal take was granted when the system damaged it. */
  renderReport(st) {
    const box = this.ui.takeReport;
    const last = (this.a?.takes || []).filter((x) => !x.recording).at(-1);
    const after = ["answering", "rehearsal-review", "rehearsal-playback", "intro"].includes(st);
    const quality = last && this.media.get(last.take_id)?.quality;
    const lines = after && quality ? reportLines(quality) : [];
    const retake = last && (this.a?.retakes || []).find((r) => r.take_id === last.take_id);
    if (after && retake && this.formalLeft() > 0) lines.push(retakeText(retake));
    box.hidden = !lines.length;
    box.dataset.damaged = String(Boolean(retake) || Boolean(quality && quality.lost_s >= 0.05));
    box.replaceChildren(...lines.map((text) => {
      const p = document.createElement("p");
      p.textContent = text;
      return p;
    }));
  }

  renderWorks(st) {
    const { ui, s } = this;
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
    this.learnLengths(works);
  }

  /** What each work really holds (recorded length, gaps) comes with its stored summary:
   * asked for once per work not yet stored here (a reload, or events missed). */
  learnLengths(works) {
    this.asked ??= new Set();
    for (const take of works) {
      if (take.media_failed || this.media.get(take.take_id)?.state === "stored") continue;
      if (this.asked.has(take.take_id)) continue;
      this.asked.add(take.take_id);
      // Still saving: its take_stored event brings the summary.
      this.storedTake(take.take_id).then((stored) => {
        if (stored) this.ctx.render();
      }).catch((err) => console.warn(err));
    }
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
    meta.dataset.testid = "work-meta";
    const parts = [
      lengthText(this.media.get(take.take_id), (take.stopped_at ?? take.started_at) - take.started_at),
      t("exam.works.at", { time: shortTime(take.started_at, this.ctx.clock) }),
    ];
    const reason = take.stop_reason;
    if (reason && reason !== "stopped") {
      const known = ["time_limit", "connection_lost", "ended_by_proctor"].includes(reason);
      parts.push(t(`exam.works.stop.${known ? reason : "other"}`));
    }
    if (take.media_failed) parts.push(t("exam.works.failed"));
    const quality = this.media.get(take.take_id)?.quality;
    if (quality) parts.push(...reportLines(quality));
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

  /** The connection line: reconnecting (for how long), back (how much was lost), retry. */
  renderConnection() {
    const { ui } = this;
    renderLink({ line: ui.connection, text: ui.connText, retry: ui.reconnect }, this.uplink);
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
    if (this.uplink?.drop || this.uplink?.lastDrop) this.renderConnection();
    if (st === "recording") {
      const take = a.recording;
      // What the server holds of the take (its heartbeat's figure: a drop is not counted),
      // the time since its start until the server has said; never counting back.
      const recorded = this.uplink?.recordedNow(take.take_id);
      const guess = recorded ?? ctx.clock.now() - take.started_at;
      const shown = this.shownRecording;
      const elapsed = shown?.takeId === take.take_id ? Math.max(shown.seconds, guess) : guess;
      this.shownRecording = { takeId: take.take_id, seconds: elapsed };
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
}
