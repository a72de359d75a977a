// An exam's incidents after (or during) the exam, for the unit's admin (issue #13): each
// candidate's timeline, one row per alert the server raised, with its server time, kind,
// camera, how long it lasted, the question and place in the take, and the people's
// decision (confirmed / dismissed, the note, who decided). Clicking a row plays both
// cameras of that take from a few seconds before it, in sync (<dual-playback>, seeked on
// the take's clock, which both cameras' segments share by ``start_s``). Open incidents can
// be decided here too. Each timeline exports as JSON and CSV.

import { api } from "../../lib/api.js";
import { t } from "../../lib/i18n.js";
import { busyWith, fmtTime, messageArea } from "../../lib/staff-page.js";
import { h } from "../../lib/dom.js";
import "../../components/dual-playback.js";
import { incidentId, serverTime, stateOf, takeOffset } from "../../components/incident-list.js";

const enc = encodeURIComponent;
export const BEFORE_S = 5; // a row plays from this long before the incident began

const paths = {
  exam: (examId) => `/api/proctor/exams/${enc(examId)}/incidents`,
  examExport: (examId, format) =>
    `/api/proctor/exams/${enc(examId)}/incidents/export?format=${format}`,
  attemptExport: (attemptId, format) =>
    `/api/proctor/attempts/${enc(attemptId)}/incidents/export?format=${format}`,
  dispose: (incident) => `/api/proctor/incidents/${enc(incidentId(incident))}`,
  submissions: (examId) => `/api/admin/exams/${enc(examId)}/submissions`,
  progress: (examId) => `/api/admin/exams/${enc(examId)}/progress`,
  proctors: (examId) => `/api/admin/exams/${enc(examId)}/proctors`,
};

/** The take in the form <dual-playback> loads, from its cameras' segments. */
function playable(takeId, cameras) {
  const primary = cameras?.primary?.segments || [];
  if (!primary.length) return null;
  return { take_id: takeId, manifest: { segments: primary,
    cameras: { secondary: { segments: cameras.secondary?.segments || [] } } } };
}

/** Every take the page can play, by id: the chosen take of each submitted answer, and any
 * the incidents' reply carries. */
function takesOf(data, submissions) {
  const takes = new Map();
  for (const s of submissions) {
    const take = s.take;
    if (take?.take_id && take.state === "stored") {
      const item = playable(take.take_id, take.cameras || { primary: { segments: take.segments } });
      if (item) takes.set(take.take_id, item);
    }
  }
  for (const [id, take] of Object.entries(data.takes || {})) {
    const item = playable(id, take.cameras || take);
    if (item) takes.set(id, item);
  }
  return takes;
}

/** The incidents by candidate, by name: [{candidateId, candidate, incidents, attempts}]
 * (``attempts``: the answers their incidents belong to, for the exports). */
function groupsOf(incidents, people) {
  const groups = new Map();
  for (const incident of incidents) {
    const id = incident.candidate_id;
    if (!groups.has(id)) {
      groups.set(id, { candidateId: id, incidents: [], attempts: new Map(),
        candidate: people.get(id) || { name: incident.candidate_name } });
    }
    const group = groups.get(id);
    group.incidents.push(incident);
    if (incident.attempt_id) group.attempts.set(incident.attempt_id, incident.question_id);
  }
  const name = (g) => g.candidate.name || g.candidateId || "";
  return [...groups.values()].sort((a, b) => name(a).localeCompare(name(b), "zh"));
}

class Timeline {
  constructor(view, group) {
    this.view = view;
    this.group = group;
    this.takeId = null;
    this.list = h("incident-list", { mode: "timeline", testid: "timeline-list" });
    this.list.disposer = (incident, decision, note) => view.dispose(incident, decision, note);
    this.list.playable = (incident) => view.takes.has(incident.take_id);
    this.list.questionTitle = (questionId) => view.questionTitle(questionId);
    this.list.person = (accountId) => view.deciders.get(accountId) || null;
    this.list.addEventListener("incident-play", (event) => this.play(event.detail));
    this.list.addEventListener("incident-disposed", (event) => view.disposed(event.detail));
    this.name = h("h3", { class: "timeline-name" });
    this.counts = h("span", { class: "muted timeline-counts", testid: "timeline-counts" });
    // One timeline per answer (question) to export: the API's unit of a timeline.
    this.exports = [...group.attempts].map(([attemptId, questionId]) => ["json", "csv"]
      .map((format) => h("a", { class: "button secondary small", download: "",
        testid: `timeline-export-${format}`, href: paths.attemptExport(attemptId, format),
        dataset: { format, question: questionId || "" } }))).flat();
    this.playing = h("p", { class: "muted timeline-playing", testid: "timeline-playing",
      hidden: true });
    this.dual = h("dual-playback", { testid: "timeline-dual", hidden: true });
    this.el = h("section", { class: "panel timeline", testid: "timeline",
      dataset: { candidateId: group.candidateId } },
    h("header", { class: "timeline-head" }, this.name, this.counts,
      h("span", { class: "tools" }, this.exports)),
    this.list,
    h("div", { class: "incident-player" }, this.playing, this.dual));
  }

  render() {
    const { candidate, candidateId, incidents } = this.group;
    this.name.replaceChildren(candidate.name || candidateId || "", " ",
      h("span", { class: "muted mono", testid: "candidate-id" }, candidate.id_number || ""));
    const open = incidents.filter((i) => stateOf(i) === "open").length;
    this.counts.textContent = t("incident.counts", { n: incidents.length, open });
    const several = this.group.attempts.size > 1;
    for (const link of this.exports) {
      const format = t(`incident.export.${link.dataset.format}`);
      const title = several ? this.view.questionTitle(link.dataset.question) : "";
      link.textContent = title ? t("incident.exportOf", { title, format }) : format;
    }
    this.list.show(incidents, this.view.now);
    this.list.render();
    this._playingText();
    this.dual.render?.();
  }

  /** Both cameras of the incident's take from BEFORE_S before it began. */
  play(incident) {
    const take = this.view.takes.get(incident.take_id);
    if (!take) return;
    this.view.stopAll(this);
    if (this.takeId !== take.take_id) {
      this.dual.load(take);
      this.takeId = take.take_id;
    }
    const single = !take.manifest.cameras.secondary.segments.length;
    this.dual.dataset.cameras = single ? "1" : "2";
    this.dual.hidden = false;
    this.shown = incident;
    const from = Math.max(0, (takeOffset(incident) ?? 0) - BEFORE_S);
    this.dual.dataset.from = from.toFixed(2);
    this.dual.dataset.incidentId = incidentId(incident);
    this._playingText();
    this.dual.playFrom(from).catch((err) => console.warn(err));
    this.dual.scrollIntoView({ block: "nearest" });
  }

  stop() {
    if (!this.dual.hidden) this.dual.pause();
  }

  _playingText() {
    const incident = this.shown;
    this.playing.hidden = !incident;
    if (incident) {
      this.playing.textContent = t("incident.playing", { before: BEFORE_S,
        time: serverTime(incident.started_at) });
    }
  }
}

export async function mountIncidents(ctx, root, exam) {
  const view = {
    exam, now: null, takes: new Map(), timelines: [], deciders: new Map(),
    questionTitle(questionId) {
      const i = exam.questions.findIndex((q) => q.id === questionId);
      return i < 0 ? "" : t("incident.question", { n: i + 1, title: exam.questions[i].title });
    },
    async dispose(incident, decision, note) {
      const reply = await api("POST", paths.dispose(incident), { decision, note });
      return reply?.incident ?? reply;
    },
    disposed(incident) {
      for (const timeline of view.timelines) {
        const list = timeline.group.incidents;
        const i = list.findIndex((x) => incidentId(x) === incidentId(incident));
        if (i >= 0) {
          list[i] = incident;
          timeline.render();
        }
      }
      render();
    },
    stopAll(except = null) {
      for (const timeline of view.timelines) if (timeline !== except) timeline.stop();
    },
  };
  const message = messageArea("incidents-error");
  const summary = h("p", { class: "summary-line", testid: "incidents-summary" });
  const list = h("div", { class: "timeline-list", testid: "timelines" });
  const refreshButton = h("button", { type: "button", class: "secondary small",
    testid: "incidents-refresh", i18n: "console.btn.refresh", onclick: () => refresh() });

  // Playing needs the submissions, names need the progress and proctors: the timeline
  // shows without them.
  const optional = (path, empty) => api("GET", path).catch((err) => {
    console.warn(err);
    return empty;
  });

  async function load() {
    const [data, subs, progress, proctors] = await Promise.all([
      api("GET", paths.exam(exam.id)),
      optional(paths.submissions(exam.id), { submissions: [] }),
      optional(paths.progress(exam.id), { candidates: [] }),
      optional(paths.proctors(exam.id), { proctors: [] }),
    ]);
    const submissions = subs.submissions || [];
    const people = new Map();
    for (const row of progress.candidates || []) {
      people.set(row.candidate.account_id, row.candidate);
    }
    for (const s of submissions) people.set(s.candidate.account_id, s.candidate);
    view.deciders = new Map((proctors.proctors || []).map((p) => [p.account_id,
      { name: p.name, role: "proctor" }]));
    if (ctx.me) view.deciders.set(ctx.me.id, { name: ctx.me.name, role: ctx.me.role });
    view.now = data.now ?? subs.now ?? null;
    view.takes = takesOf(data, submissions);
    view.stopAll();
    view.timelines = groupsOf(data.incidents || [], people).map((g) => new Timeline(view, g));
    list.replaceChildren(...view.timelines.map((timeline) => timeline.el));
  }

  async function refresh() {
    await busyWith(refreshButton, message, load, render);
  }

  function render() {
    const all = view.timelines.flatMap((timeline) => timeline.group.incidents);
    summary.textContent = t("incident.summary", { n: all.length,
      open: all.filter((i) => stateOf(i) === "open").length, people: view.timelines.length,
      time: fmtTime(view.now) });
    message.render();
    for (const link of examExports) {
      link.textContent = t("incident.exportAll",
        { format: t(`incident.export.${link.dataset.format}`) });
    }
    for (const timeline of view.timelines) timeline.render();
    if (!view.timelines.length) {
      list.replaceChildren(h("p", { class: "panel empty", testid: "no-incidents",
        i18n: "incident.noneExam" }));
    }
  }

  const examExports = ["json", "csv"].map((format) => h("a", {
    class: "button secondary small", download: "", testid: `incidents-export-${format}`,
    href: paths.examExport(exam.id, format), dataset: { format } }));

  await load();
  root.replaceChildren(
    h("div", { class: "panel" }, h("div", { class: "panel-head" }, summary,
      h("span", { class: "tools" }, examExports, refreshButton)),
    h("p", { class: "field-hint", i18n: "incident.intro" }), message.el),
    list);
  render();
  return { onLang: render, stop: () => view.stopAll() };
}
