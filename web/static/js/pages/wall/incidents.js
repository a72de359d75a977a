// Incidents on the proctors' wall (issue #13): the alerts the server raised about a
// candidate, shown at once on their tile (a badge: how many wait for a decision and the
// latest kind; the tile outlined) and listed in the spotlight, where the proctor confirms
// or dismisses each with a note (components/incident-list.js).
//
// The tile's ``incidents`` ({open, latest: [up to 3, newest first]}) arrive with the wall's
// tiles (wall_tiles, pushed when an incident is raised, ends or is decided); the spotlight
// reads the candidate's whole list (GET …/candidates/{candidate_id}/incidents) when it
// opens and again whenever the tile's incidents change.

import { api } from "../../lib/api.js";
import { ServerClock } from "../../lib/clock.js";
import { h } from "../../lib/dom.js";
import { errorText } from "../../lib/errors.js";
import { t } from "../../lib/i18n.js";
import { incidentId, kindText } from "../../components/incident-list.js";

const enc = encodeURIComponent;

/** The candidate's incidents in an exam, and one incident's decision (docs/api.md). */
export const paths = {
  list: (examId, candidateId) =>
    `/api/proctor/exams/${enc(examId)}/candidates/${enc(candidateId)}/incidents`,
  dispose: (incident) => `/api/proctor/incidents/${enc(incidentId(incident))}`,
};

/** How many of the tile's incidents wait for a decision. */
export function openAlerts(tile) {
  return Number(tile?.incidents?.open) || 0;
}

export function hasAlerts(tile) {
  return openAlerts(tile) > 0;
}

/** The newest of the tile's incidents that wait for a decision (null: none). */
export function latestAlert(tile) {
  const latest = tile?.incidents?.latest;
  const list = Array.isArray(latest) ? latest : [latest];
  return list.find((incident) => incident && (incident.status ?? "open") === "open") || null;
}

/** Most open incidents first, then the newest one. */
export function byAlerts(x, y) {
  const count = openAlerts(y) - openAlerts(x);
  if (count) return count;
  return (latestAlert(y)?.started_at ?? 0) - (latestAlert(x)?.started_at ?? 0);
}

/** A tile's badge: "⚠ 2 退出了全屏" while incidents wait for a decision; hidden otherwise. */
export class TileAlerts {
  constructor() {
    this.count = h("span", { class: "tile-alerts-count", testid: "tile-alerts-count" });
    this.kind = h("span", { class: "tile-alerts-kind", testid: "tile-alerts-kind" });
    this.el = h("span", { class: "tile-alerts", testid: "tile-alerts", hidden: true,
      role: "status" }, this.count, this.kind);
  }

  update(tile) {
    const n = openAlerts(tile);
    const latest = latestAlert(tile);
    this.el.hidden = n === 0;
    this.el.dataset.count = String(n);
    this.el.dataset.kind = latest?.kind || "";
    this.count.textContent = n ? t("incident.tileCount", { n }) : "";
    this.kind.textContent = n && latest ? kindText(latest.kind) : "";
    this.el.title = n ? t("incident.tileHint", { n }) : "";
  }
}

/** The spotlight's part: the watched candidate's incidents, decided here. */
export class SpotlightIncidents {
  constructor(examId) {
    this.examId = examId;
    this.clock = new ServerClock();
    this.tile = null;
    this.key = "";
    this.asked = 0; // the latest reading asked for: older answers are dropped
    this.failure = null;
    this._ticker = null;
    this.heading = h("h3", { class: "spot-incidents-title", testid: "spot-incidents-title" });
    this.message = h("p", { class: "notice", testid: "spot-incidents-error", hidden: true,
      dataset: { kind: "error" } });
    this.list = h("incident-list", { mode: "live", testid: "spot-incidents-list" });
    this.list.disposer = (incident, decision, note) => this._dispose(incident, decision, note);
    this.list.addEventListener("incident-disposed", () => this.refresh());
    this.el = h("section", { class: "spot-incidents", testid: "spot-incidents" },
      this.heading, this.message, this.list);
  }

  /** The spotlight opened on ``tile``'s candidate. */
  show(tile) {
    this.tile = tile;
    this.key = JSON.stringify(tile.incidents ?? null);
    this.list.show([]);
    this.render();
    clearInterval(this._ticker);
    this._ticker = setInterval(() => this.list.tick(this.clock.now()), 1000);
    this.refresh();
  }

  /** The wall's newer tile of the candidate watched: read the list again if its incidents
   * changed. */
  update(tile) {
    if (!this.tile || tile.candidate_id !== this.tile.candidate_id) return;
    this.tile = tile;
    const key = JSON.stringify(tile.incidents ?? null);
    if (key === this.key) return;
    this.key = key;
    this.refresh();
  }

  close() {
    this.tile = null;
    this.asked += 1;
    clearInterval(this._ticker);
    this.failure = null;
    this.message.hidden = true;
    this.list.show([]);
  }

  render() {
    this.heading.textContent = t("incident.spotTitle");
    this.list.render();
    if (this.failure) this.message.textContent = this.failure();
  }

  async refresh() {
    if (!this.tile) return;
    const asked = ++this.asked;
    try {
      const reply = await api("GET", paths.list(this.examId, this.tile.candidate_id));
      if (asked !== this.asked) return;
      if (reply.now) this.clock.sync(reply.now);
      this.failure = null;
      this.message.hidden = true;
      this.list.show(reply.incidents || [], this.clock.now());
      this.el.dataset.loaded = String(asked);
    } catch (err) {
      if (asked !== this.asked) return;
      console.warn(err);
      this.failure = () => t("incident.err.load", { reason: errorText(err, "console") });
      this.message.textContent = this.failure();
      this.message.hidden = false;
    }
  }

  async _dispose(incident, decision, note) {
    const reply = await api("POST", paths.dispose(incident), { decision, note });
    if (reply?.now) this.clock.sync(reply.now);
    return reply?.incident ?? reply;
  }
}
