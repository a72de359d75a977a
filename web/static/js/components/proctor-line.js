// The candidate's line to the proctors, on the question page and the phone (二机位):
// a proctor's message is shown at once in a dialog whose 知道了 sends the read receipt
// (``message_read``); a raised hand (``raise_hand``) shows on the proctors' wall until a
// proctor answers; ``deadline_changed`` (extra time) and ``attempt_ended`` (a proctor
// ended the question, with a reason) are handed to the page, which loads the question
// again (the server owns the deadlines). Messages sent while the page was away are
// loaded from ``GET /api/exams/{exam_id}/messages`` at start and after each reconnect.
//
//   const line = new ProctorLine({ socket, examId, onDeadline, onEnded });
//   line.start(); line.attachHand(container); line.showEnded(reason | null)

import { api } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { request } from "../lib/uplink.js";

export class ProctorLine {
  constructor({ socket, examId, onDeadline = () => {}, onEnded = () => {} }) {
    this.socket = socket;
    this.examId = examId;
    this.onDeadline = onDeadline;
    this.onEnded = onEnded;
    this.messages = new Map(); // id → message (read or not)
    this.showing = null; // the id of the message in the dialog
    this.handRaisedAt = null;
    this.handButton = null;
    this.handNote = null;
    this.ended = h("p", { class: "notice", testid: "attempt-ended", role: "alert", hidden: true,
      dataset: { kind: "error" } });
    this.text = h("p", { class: "proctor-text", testid: "proctor-message-text" });
    this.when = h("p", { class: "muted", testid: "proctor-message-time" });
    this.ok = h("button", { type: "button", class: "primary", testid: "proctor-message-ok",
      i18n: "proctor.msg.ok", onclick: () => this.read() });
    this.dialog = h("dialog", { class: "confirm proctor-message", testid: "proctor-message" },
      h("h2", { i18n: "proctor.msg.title" }), this.text, this.when,
      h("div", { class: "row" }, this.ok));
    this.dialog.addEventListener("cancel", (e) => e.preventDefault()); // read it first
  }

  start() {
    document.body.append(this.dialog);
    this.socket.on("proctor_message", (m) => this.onMessage(m));
    this.socket.on("deadline_changed", (body) => {
      if (body.exam_id === this.examId) this.onDeadline(body);
    });
    this.socket.on("attempt_ended", (body) => {
      if (body.exam_id !== this.examId) return;
      this.showEnded(body.reason);
      this.onEnded(body);
    });
    this.socket.on("hand_state", (body) => {
      if (body.exam_id !== this.examId) return;
      this.handRaisedAt = body.hand_raised_at;
      this.renderHand();
    });
    this.socket.on("connect", () => this.load()); // what was sent while away
    this.load();
  }

  /** Where the 举手 button goes (the question page; the phone has none). */
  attachHand(container) {
    this.handButton = h("button", { type: "button", class: "secondary", testid: "raise-hand",
      i18n: "proctor.hand.raise", onclick: () => this.raiseHand() });
    this.handNote = h("span", { class: "muted", testid: "hand-state", hidden: true });
    container.append(this.handButton, this.handNote);
    this.renderHand();
  }

  /** The question was ended by a proctor (``reason``), or not (null). */
  showEnded(reason) {
    this.ended.hidden = !reason;
    this.ended.textContent = reason ? t("proctor.ended", { reason }) : "";
  }

  async load() {
    try {
      const data = await api("GET", `/api/exams/${encodeURIComponent(this.examId)}/messages`);
      for (const m of data.messages) this.messages.set(m.id, m);
      this.handRaisedAt = data.hand_raised_at;
      this.renderHand();
      this.showNext();
    } catch {
      // shown when the next message arrives over the socket
    }
  }

  onMessage(m) {
    if (m.exam_id !== this.examId) return;
    this.messages.set(m.id, m);
    if (m.read_at != null && this.showing === m.id) this.close(); // read on the other device
    this.showNext();
  }

  showNext() {
    if (this.showing !== null) return;
    const unread = [...this.messages.values()].filter((m) => m.read_at == null)
      .sort((a, b) => a.sent_at - b.sent_at);
    if (!unread.length) return;
    const m = unread[0];
    this.showing = m.id;
    this.text.textContent = m.text;
    this.when.textContent = t("proctor.msg.sentAt", {
      time: new Date(m.sent_at * 1000).toLocaleTimeString() });
    this.ok.disabled = false;
    if (!this.dialog.open) this.dialog.showModal();
  }

  close() {
    this.showing = null;
    if (this.dialog.open) this.dialog.close();
  }

  async read() {
    const id = this.showing;
    if (id === null) return;
    this.ok.disabled = true;
    try {
      const m = await request(this.socket, "message_read", { message_id: id });
      this.messages.set(id, { ...this.messages.get(id), read_at: m.read_at });
      this.close();
      this.showNext();
    } catch {
      this.ok.disabled = false; // not sent: try again
    }
  }

  async raiseHand() {
    if (!this.handButton) return;
    this.handButton.disabled = true;
    try {
      const body = await request(this.socket, "raise_hand", { exam_id: this.examId });
      this.handRaisedAt = body.hand_raised_at;
    } catch {
      this.handNote.hidden = false;
      this.handNote.textContent = t("proctor.hand.failed");
      this.handButton.disabled = false;
      return;
    }
    this.renderHand();
  }

  renderHand() {
    if (!this.handButton) return;
    const up = this.handRaisedAt != null;
    this.handButton.disabled = up;
    this.handButton.dataset.raised = up ? "yes" : "no";
    this.handNote.hidden = !up;
    this.handNote.textContent = up ? t("proctor.hand.raised") : "";
  }
}
