// 在线录制, the media: the candidate's camera and its media session (the same
// session across the exam's pages, kept in sessionStorage), the server's take
// events and GET /api/recording after a reconnect, and playing a take back (one
// camera, or both of a 需二机位 take side by side).

import { api } from "../../lib/api.js";
import { hasSecondCamera } from "../../components/dual-playback.js";
import { t } from "../../lib/i18n.js";
import { mediaErrorKey, mediaSupport, openCameraAndMic } from "../../lib/media.js";
import { endPlaybackText } from "./dialogs.js";
import { OnlineView } from "./online-view.js";
import { Uplink } from "../../lib/uplink.js";
import { Filler } from "../../lib/fill-upload.js";
import { CopyFollower } from "../../lib/local-copy.js";

const SESSION_KEY = "examcast.primarySession";
const EXAM_PURPOSES = ["rehearsal", "formal"];

export class OnlineMedia extends OnlineView {
  // -- camera and connection ----------------------------------------------------------------

  /** Fills what the server missed of a take from the local copy (lib/fill-upload.js): at
   * page load and after each reconnect for the takes the copy holds, after each take is
   * stored or its copy ends, and now and then while the copy holds stopped takes. */
  fills() {
    if (!this.filler) {
      this.filler = new Filler({ camera: "primary" });
      this.filler.fromCopy();
    }
    return this.filler;
  }

  /** The local copy (lib/local-copy.js) records whatever take this camera records now. */
  render() {
    super.render();
    this.copy ??= new CopyFollower({
      camera: "primary", clock: this.ctx.clock,
      onStopped: () => this.ctx.notify({ key: "copy.full", kind: "warning" }),
      onEnded: (takeId) => this.fills().afterStop(takeId),
    });
    this.copy.follow(this.a?.recording?.take_id ?? null, this.stream);
  }

  async openCamera() {
    this.fills();
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
    this.uplink = new Uplink(this.socket, this.stream, (state) => this.onUplink(state), {
      onMedia: () => this.renderConnection(), examId: this.ctx.examId,
    });
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
    const known = this.media.get(take.take_id);
    this.media.set(take.take_id, take);
    const mine = take.attempt_id && take.attempt_id === this.a?.attempt_id;
    if (event === "take_stored") this.fills().afterStop(take.take_id);
    if (mine && event === "take_started" && known?.state === "recording") {
      // Its server died: another one records on (the seconds lost come from the copy).
      this.ctx.notify({ key: "exam.take.continued", kind: "info" });
    } else if (mine && event === "take_failed") {
      this.ctx.notify({ key: "exam.take.failed", kind: "error" });
    } else if (mine && event === "take_stopped" && take.stop_reason
      && !["stopped", "time_limit"].includes(take.stop_reason)) {
      const known = ["connection_lost", "server_restart", "ended_by_proctor"]
        .includes(take.stop_reason);
      this.ctx.notify({ key: `exam.stop.${known ? take.stop_reason : "other"}`, kind: "warning" });
    } else if (mine && event === "take_stopped" && take.stop_reason === "time_limit") {
      this.ctx.notify({ key: "exam.stop.time_limit", kind: "info" });
    }
    this.ctx.refresh();
  }

  /** After a reconnect: what the server is reading or recording now, here or elsewhere. */
  async resync() {
    this.ctx.refresh();
    this.fills().fromCopy(); // a server that restarted never sends take_stored for its takes
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

  /**
   * 结束回放: the candidate ends the rehearsal's one playback early. It still counts as
   * the one playback: the server closes the playback window and deletes the rehearsal.
   */
  async endRehearsalPlayback() {
    if (this.playing?.kind !== "rehearsal") return;
    if (!(await this.ctx.confirm(endPlaybackText(), t("exam.btn.endPlayback")))) return;
    if (this.playing?.kind !== "rehearsal") return; // it played to its end meanwhile
    (this.playing.dual ? this.dual : this.player).pause();
    this.playing = null;
    const left = await this.ctx.call(() => api("POST", this.ctx.path("/rehearsal/leave")));
    if (left) this.ctx.notify({ key: "exam.rehearsal.ended", kind: "info" });
  }

  closePlayback() {
    if (!this.playing) return;
    (this.playing.dual ? this.dual : this.player).pause();
    this.playing = null;
    this.ctx.render();
  }
}
