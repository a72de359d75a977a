// <incident-list>: a candidate's incidents (alerts the server raised, docs/api.md
// "Incidents"), one row each: when (server time), what, which camera, how long, and the
// people's decision. Used by the proctor's spotlight (mode "live") and the console's
// timeline after the exam (mode "timeline": the question and place in the take too, and a
// row can be played). Styles: css/incident-list.css.
//
//   const list = h("incident-list", { mode: "live" });
//   list.disposer = (incident, decision, note) => api(…);  // confirm / dismiss + a note
//   list.playable = (incident) => Boolean(incident.take_id);  // timeline: rows to play
//   list.person = (accountId) => ({ name, role });         // who decided, when known
//   list.show(incidents, serverNow);                       // rows updated in place
//   list.tick(serverNow);                                  // ongoing ones' length
//   list.addEventListener("incident-play", (e) => …e.detail);   // the incident clicked
//   list.addEventListener("incident-disposed", (e) => …e.detail);
//
// Rows are kept by incident id and updated in place, so a note being typed survives the
// list arriving again. A disposed incident shows its decision, note and who decided; only
// an open one offers the buttons (and only with a ``disposer``).

import { has, t } from "../lib/i18n.js";
import { clock } from "../lib/format.js";
import { fmtDuration } from "../lib/staff-page.js";
import { errorText } from "../lib/errors.js";
import { h } from "../lib/dom.js";

export const DECISIONS = ["confirmed", "dismissed"];
const NOTE_MAX = 500;

const pad = (n) => String(n).padStart(2, "0");

/** The incident's id, whatever the field is called. */
export const incidentId = (incident) => incident.incident_id ?? incident.id;

/** "open" until a person decided, then "confirmed" or "dismissed". */
export function stateOf(incident) {
  const status = incident.status ?? incident.state ?? incident.decision;
  return DECISIONS.includes(status) ? status : "open";
}

/** Where the incident began on its take's clock (which both cameras' segments share). */
export function takeOffset(incident) {
  const offset = incident.take_offset_s ?? incident.offset_s;
  return offset === null || offset === undefined ? null : Number(offset);
}

/** The kind in the page's words (the code itself for one this page does not know). */
export function kindText(kind) {
  return has(`incident.kind.${kind}`) ? t(`incident.kind.${kind}`) : kind;
}

/** A server time with seconds: "14:03:07", with the date before it when ``withDate``. */
export function serverTime(ts, withDate = false) {
  if (ts === null || ts === undefined) return "—";
  const d = new Date(ts * 1000);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (!withDate) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** How long the condition lasted (to ``now`` while it goes on), in seconds. */
export function lastedS(incident, now) {
  const end = incident.ended_at ?? now;
  return Math.max(0, (end ?? incident.started_at) - incident.started_at);
}

function durationText(incident, now) {
  const seconds = lastedS(incident, now);
  const length = fmtDuration(Math.max(seconds, 0)) || t("console.unit.s", { n: 0 });
  return incident.ended_at === null || incident.ended_at === undefined
    ? t("incident.ongoing", { duration: length }) : t("incident.lasted", { duration: length });
}

/** Who decided, in words; ``person(accountId)`` may know their name and role. */
function whoText(incident, person) {
  const by = incident.disposed_by ?? incident.decided_by;
  if (!by) return "";
  const who = typeof by === "object" ? by : { account_id: by, name: incident.disposed_by_name,
    role: incident.disposed_by_role, ...person(by) };
  const role = has(`incident.role.${who.role}`) ? t(`incident.role.${who.role}`) : "";
  const name = who.name || who.account_id || "";
  return t(role ? "incident.decidedByRole" : "incident.decidedBy", { name, role,
    time: serverTime(incident.disposed_at ?? incident.decided_at, true) });
}

class Row {
  constructor(list, incident) {
    this.list = list;
    this.incident = incident;
    this.time = h("time", { class: "incident-time", testid: "incident-time" });
    this.kind = h("span", { class: "incident-kind", testid: "incident-kind" });
    this.camera = h("span", { class: "incident-camera", testid: "incident-camera" });
    this.duration = h("span", { class: "incident-duration", testid: "incident-duration" });
    this.position = h("span", { class: "incident-position", testid: "incident-position" });
    this.state = h("span", { class: "badge incident-state", testid: "incident-state" });
    this.decision = h("p", { class: "incident-decision", testid: "incident-decision" });
    this.note = h("span", { class: "incident-note", testid: "incident-note" });
    this.by = h("span", { class: "incident-by", testid: "incident-by" });
    this.decision.append(this.note, this.by);
    this.input = h("input", { type: "text", class: "incident-note-input", maxlength: NOTE_MAX,
      testid: "incident-note-input" });
    this.confirm = h("button", { type: "button", class: "small incident-confirm",
      testid: "incident-confirm", onclick: () => this.dispose("confirmed") });
    this.dismiss = h("button", { type: "button", class: "secondary small incident-dismiss",
      testid: "incident-dismiss", onclick: () => this.dispose("dismissed") });
    this.error = h("p", { class: "notice incident-error", testid: "incident-error", hidden: true,
      dataset: { kind: "error" }, role: "alert" });
    this.form = h("div", { class: "incident-form" }, this.input, this.confirm, this.dismiss);
    this.play = h("button", { type: "button", class: "secondary small incident-play",
      testid: "incident-play", onclick: () => this.list.played(this.incident) });
    this.el = h("li", { class: "incident", testid: "incident" },
      h("div", { class: "incident-head" }, this.time, this.kind, this.camera, this.state),
      h("div", { class: "incident-meta" }, this.duration, this.position, this.play),
      this.decision, this.form, this.error);
    // A timeline's row plays where it is clicked (its inputs and buttons do their own).
    this.el.addEventListener("click", (event) => {
      const own = event.target.closest("button, input");
      if (this.el.classList.contains("playable") && !own) this.list.played(this.incident);
    });
  }

  update(incident) {
    this.incident = incident;
    this.render();
  }

  render() {
    const incident = this.incident;
    const { el, list } = this;
    const state = stateOf(incident);
    el.dataset.incidentId = incidentId(incident);
    el.dataset.kind = incident.kind;
    el.dataset.state = state;
    el.dataset.ongoing = String(incident.ended_at === null || incident.ended_at === undefined);
    this.time.textContent = serverTime(incident.started_at, list.mode === "timeline");
    this.time.dateTime = new Date(incident.started_at * 1000).toISOString();
    this.kind.textContent = kindText(incident.kind);
    this.camera.textContent = incident.camera ? t(`incident.camera.${incident.camera}`) : "";
    this.camera.hidden = !incident.camera;
    this.state.textContent = t(`incident.state.${state}`);
    this.state.dataset.state = state;
    this.tick(list.now);
    const where = this.where();
    this.position.textContent = where;
    this.position.hidden = !where;
    const playable = list.mode === "timeline" && list.playable(incident);
    this.play.hidden = !playable;
    this.play.textContent = t("incident.play");
    el.classList.toggle("playable", playable);
    this.decision.hidden = state === "open";
    this.note.textContent = incident.note ? t("incident.noteShown", { note: incident.note }) : "";
    this.note.hidden = !incident.note;
    this.by.textContent = whoText(incident, list.person);
    this.form.hidden = state !== "open" || !list.disposer;
    this.input.placeholder = t("incident.notePlaceholder");
    this.input.setAttribute("aria-label", t("incident.noteLabel"));
    this.confirm.textContent = t("incident.confirm");
    this.dismiss.textContent = t("incident.dismiss");
    if (this.failure) this.error.textContent = this.failure();
  }

  /** Where in the answer: the question and the place in its take (timeline only). */
  where() {
    const incident = this.incident;
    if (this.list.mode !== "timeline") return "";
    const parts = [];
    const title = this.list.questionTitle(incident.question_id);
    if (title) parts.push(title);
    const offset = takeOffset(incident);
    if (incident.take_id && offset !== null) {
      parts.push(t("incident.at", { time: clock(offset, false) }));
    }
    return parts.join(" · ");
  }

  tick(now) {
    const text = durationText(this.incident, now);
    if (this.duration.textContent !== text) this.duration.textContent = text;
  }

  async dispose(decision) {
    const note = this.input.value.trim();
    this.confirm.disabled = true;
    this.dismiss.disabled = true;
    this.failure = null;
    this.error.hidden = true;
    try {
      const done = await this.list.disposer(this.incident, decision, note);
      const incident = done?.incident ?? done;
      if (incident && typeof incident === "object" && incidentId(incident)) this.update(incident);
      this.input.value = "";
      this.list.dispatchEvent(new CustomEvent("incident-disposed",
        { detail: this.incident, bubbles: true }));
    } catch (err) {
      console.warn(err);
      this.failure = () => t("incident.err.dispose", { reason: errorText(err, "console") });
      this.error.textContent = this.failure();
      this.error.hidden = false;
    } finally {
      this.confirm.disabled = false;
      this.dismiss.disabled = false;
    }
  }
}

class IncidentList extends HTMLElement {
  constructor() {
    super();
    this.rows = new Map();
    this.now = null;
    this.disposer = null; // async (incident, decision, note) => the incident decided
    this.playable = () => false;
    this.questionTitle = () => "";
    this.person = () => null; // an account id -> {name, role} of who decided, if known
    this._built = false;
  }

  get mode() {
    return this.getAttribute("mode") || "live";
  }

  connectedCallback() {
    this._build();
  }

  _build() {
    if (this._built) return;
    this._built = true;
    this.classList.add("incident-list");
    this.list = h("ol", { class: "incident-rows", testid: "incident-rows" });
    this.empty = h("p", { class: "muted incident-empty", testid: "incident-empty" });
    this.replaceChildren(this.list, this.empty);
    this.render();
  }

  /** Show ``incidents`` (oldest first on a timeline, newest first live), ``now`` on the
   * server's clock. */
  show(incidents, now = null) {
    this._build();
    if (now !== null) this.now = now;
    const order = [...incidents].sort((a, b) => (this.mode === "timeline"
      ? a.started_at - b.started_at : b.started_at - a.started_at));
    const seen = new Set();
    order.forEach((incident, i) => {
      const id = incidentId(incident);
      seen.add(id);
      let row = this.rows.get(id);
      if (row) row.update(incident);
      else {
        row = new Row(this, incident);
        this.rows.set(id, row);
        row.render();
      }
      if (this.list.children[i] !== row.el) {
        this.list.insertBefore(row.el, this.list.children[i] || null);
      }
    });
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.el.remove();
        this.rows.delete(id);
      }
    }
    this.dataset.count = String(order.length);
    this.dataset.open = String(order.filter((i) => stateOf(i) === "open").length);
    this._empty();
  }

  /** The ongoing incidents' length, at ``now`` on the server's clock. */
  tick(now) {
    this.now = now;
    for (const row of this.rows.values()) row.tick(now);
  }

  /** Every text again (a language switch). */
  render() {
    if (!this._built) return;
    for (const row of this.rows.values()) row.render();
    this._empty();
  }

  played(incident) {
    this.dispatchEvent(new CustomEvent("incident-play", { detail: incident, bubbles: true }));
  }

  _empty() {
    this.empty.hidden = this.rows.size > 0;
    this.empty.textContent = t(this.mode === "timeline" ? "incident.noneTimeline"
      : "incident.none");
  }
}

customElements.define("incident-list", IncidentList);
