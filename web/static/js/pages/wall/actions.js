// The spotlight's actions on the candidate watched: a message (with its read receipt),
// extra time on the open question, ending the question with a reason (after a confirm).
//
// Socket events (docs/signaling.md, "Proctor actions"): send_message, extend_time and
// end_attempt, each acknowledged with its result or the one error shape; message_read
// comes to the wall's room when the candidate taps OK. The messages already sent to
// the candidate are loaded from GET /api/proctor/exams/{exam}/candidates/{id}/messages.

import { api } from "../../lib/api.js";
import { h } from "../../lib/dom.js";
import { t } from "../../lib/i18n.js";
import { request } from "../../lib/uplink.js";
import { fmtTime } from "../../lib/staff-page.js";

const DEFAULT_MINUTES = 5;

export class ActionPanel {
  constructor(socket, examId) {
    this.socket = socket;
    this.examId = examId;
    this.tile = null;
    this.messages = new Map(); // id → message
    this.status = null; // {key, params, kind}
    this.text = h("textarea", { testid: "action-text", rows: 2, maxlength: 500,
      i18nLabel: "wall.act.messageLabel" });
    this.list = h("ul", { class: "action-messages", testid: "action-messages" });
    this.minutes = h("input", { type: "number", min: 1, max: 60, value: DEFAULT_MINUTES,
      testid: "action-minutes", i18nLabel: "wall.act.minutesLabel" });
    this.reason = h("input", { type: "text", maxlength: 300, testid: "action-reason",
      i18nLabel: "wall.act.reasonLabel" });
    this.confirmRow = h("div", { class: "row", testid: "action-end-confirm-row", hidden: true },
      h("span", { class: "muted", testid: "action-end-question" }),
      h("button", { type: "button", class: "danger small", testid: "action-end-confirm",
        i18n: "wall.act.endConfirm", onclick: () => this.end() }),
      h("button", { type: "button", class: "secondary small", testid: "action-end-cancel",
        i18n: "wall.act.cancel", onclick: () => this.askEnd(false) }));
    this.statusEl = h("p", { class: "notice", testid: "action-status", role: "status",
      hidden: true });
    this.el = h("section", { class: "spot-actions", testid: "spot-actions", hidden: true },
      h("h3", { i18n: "wall.act.title" }),
      h("div", { class: "action-message" }, this.text,
        h("button", { type: "button", class: "primary small", testid: "action-send",
          i18n: "wall.act.send", onclick: () => this.send() })),
      this.list,
      h("div", { class: "row" },
        h("label", {}, h("span", { i18n: "wall.act.extraTime" }), this.minutes),
        h("button", { type: "button", class: "secondary small", testid: "action-extend",
          i18n: "wall.act.extend", onclick: () => this.extend() })),
      h("div", { class: "row" },
        h("label", {}, h("span", { i18n: "wall.act.reason" }), this.reason),
        h("button", { type: "button", class: "danger small", testid: "action-end",
          i18n: "wall.act.end", onclick: () => this.askEnd(true) })),
      this.confirmRow,
      this.statusEl);
    socket.on("message_read", (receipt) => this.onRead(receipt));
  }

  /** The candidate watched now (the spotlight opened on them). */
  async show(tile) {
    if (this.tile?.candidate_id !== tile.candidate_id) {
      this.messages.clear();
      this.text.value = "";
      this.reason.value = "";
      this.minutes.value = DEFAULT_MINUTES;
      this.status = null;
      this.askEnd(false);
    }
    this.tile = tile;
    this.el.hidden = false;
    this.el.dataset.candidateId = tile.candidate_id;
    this.render();
    try {
      const data = await api("GET", `/api/proctor/exams/${encodeURIComponent(this.examId)}`
        + `/candidates/${encodeURIComponent(tile.candidate_id)}/messages`);
      if (this.tile?.candidate_id !== tile.candidate_id) return;
      for (const m of data.messages) this.messages.set(m.id, m);
      this.render();
    } catch (err) {
      this.say("wall.act.failed", { message: err.message });
    }
  }

  hide() {
    this.tile = null;
    this.el.hidden = true;
  }

  async send() {
    const text = this.text.value.trim();
    if (!text) return this.say("wall.act.empty");
    const m = await this.act("send_message", { text });
    if (!m) return undefined;
    this.messages.set(m.id, m);
    this.text.value = "";
    return this.say("wall.act.sent", {}, "info");
  }

  async extend() {
    const minutes = Number(this.minutes.value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 60) return this.say("wall.act.badMinutes");
    const body = await this.act("extend_time", { minutes });
    if (!body) return undefined;
    const deadline = body.submission_deadline ?? body.reading_deadline;
    return this.say("wall.act.extended", { minutes, time: deadline ? fmtTime(deadline) : "" },
      "info");
  }

  askEnd(open) {
    if (open && !this.reason.value.trim()) return this.say("wall.act.needReason");
    this.confirmRow.hidden = !open;
    if (open) {
      this.confirmRow.firstChild.textContent = t("wall.act.endQuestion", { name: this.tile.name });
    }
    return undefined;
  }

  async end() {
    this.confirmRow.hidden = true;
    const body = await this.act("end_attempt", { reason: this.reason.value.trim() });
    if (body) this.say("wall.act.ended", { reason: body.reason }, "info");
  }

  async act(event, fields) {
    if (!this.tile) return null;
    try {
      return await request(this.socket, event,
        { exam_id: this.examId, candidate_id: this.tile.candidate_id, ...fields });
    } catch (err) {
      this.say("wall.act.failed", { message: err.message });
      return null;
    } finally {
      this.render();
    }
  }

  onRead(receipt) {
    const m = this.messages.get(receipt.message_id);
    if (!m) return;
    m.read_at = receipt.read_at;
    this.render();
  }

  say(key, params = {}, kind = "error") {
    this.status = { key, params, kind };
    this.render();
  }

  render() {
    const sent = [...this.messages.values()].filter((m) => m.kind === "message")
      .sort((a, b) => a.sent_at - b.sent_at);
    this.list.replaceChildren(...sent.map((m) => h("li", {
      testid: "action-message", dataset: { id: m.id, read: m.read_at != null ? "yes" : "no" },
    }, h("span", { class: "action-message-text", text: m.text }),
    h("span", { class: "muted", testid: "action-read",
      text: m.read_at != null ? t("wall.act.read", { time: fmtTime(m.read_at) })
        : t("wall.act.unread") }))));
    this.statusEl.hidden = !this.status;
    if (this.status) {
      this.statusEl.textContent = t(this.status.key, this.status.params);
      this.statusEl.dataset.kind = this.status.kind;
    }
  }
}
