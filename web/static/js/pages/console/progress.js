// Candidates' progress in an exam (GET /api/admin/exams/{id}/progress): each candidate
// who started, the question they are on and its phase, and per question whether it was
// submitted (by them or automatically) or closed. Refreshed every 20 seconds.

import { api } from "../../lib/api.js";
import { t } from "../../lib/i18n.js";
import { busyWith, fmtTime, messageArea } from "../../lib/staff-page.js";
import { h } from "../../lib/dom.js";

const REFRESH_MS = 20000;

function phaseBadge(phase, extra = "") {
  return h("span", { class: "badge", dataset: { phase } }, t(`console.phase.${phase}`), extra);
}

export async function mountProgress(ctx, root, exam) {
  const path = `/api/admin/exams/${encodeURIComponent(exam.id)}/progress`;
  const state = { data: await api("GET", path), filter: "", timer: null, loadedAt: Date.now() };
  const message = messageArea("progress-error");
  const summary = h("p", { class: "summary-line", testid: "progress-summary" });
  const table = h("div", { testid: "progress-box" });
  const search = h("input", { type: "search", testid: "progress-search",
    oninput: () => {
      state.filter = search.value.trim().toLowerCase();
      render();
    } });
  const refreshButton = h("button", { type: "button", class: "secondary small",
    testid: "progress-refresh", i18n: "console.btn.refresh", onclick: () => refresh() });
  const titles = Object.fromEntries(exam.questions.map((q, i) => [q.id,
    { n: i + 1, title: q.title, mode: q.mode }]));

  async function refresh() {
    await busyWith(refreshButton, message, async () => {
      state.data = await api("GET", path);
      state.loadedAt = Date.now();
    }, render);
  }

  function render() {
    search.placeholder = t("console.progress.search");
    const rows = state.data.candidates;
    const finished = rows.filter((r) => r.finished).length;
    const active = rows.filter((r) => r.current_question_id).length;
    summary.textContent = t("console.progress.summary", { started: rows.length, finished,
      active, time: fmtTime(state.data.now) });
    message.render();
    const shown = rows.filter((r) => !state.filter
      || `${r.candidate.name || ""} ${r.candidate.phone || ""}`.toLowerCase()
        .includes(state.filter));
    if (!rows.length) {
      table.replaceChildren(h("p", { class: "empty", testid: "no-progress",
        i18n: "console.progress.none" }));
      return;
    }
    const total = exam.questions.length;
    table.replaceChildren(h("div", { class: "scroll-x" }, h("table", { class: "table compact",
      testid: "progress" },
    h("thead", {}, h("tr", {},
      h("th", { i18n: "console.progress.colCandidate" }),
      h("th", { i18n: "console.progress.colCurrent" }),
      exam.questions.map((q, i) => h("th", { title: q.title },
        t("console.editor.questionN", { n: i + 1 }))),
      h("th", { i18n: "console.progress.colSubmitted" }))),
    h("tbody", {}, shown.map((r) => h("tr", { testid: "progress-row",
      dataset: { finished: r.finished ? "yes" : "no" } },
    h("td", {}, h("span", { class: "strong" }, r.candidate.name || r.candidate.account_id),
      h("br"), h("span", { class: "muted mono" }, r.candidate.phone || "")),
    h("td", {}, r.current_question_id
      ? [h("span", {}, t("console.editor.questionN", { n: titles[r.current_question_id]?.n })),
        " ", phaseBadge(r.current_phase)]
      : h("span", { class: "muted" }, t(r.finished ? "console.progress.done"
        : "console.progress.idle"))),
    r.questions.map((q) => h("td", { testid: "progress-cell", dataset: { phase: q.phase } },
      phaseBadge(q.phase),
      q.submitted_at ? h("span", { class: "muted small-text" },
        h("br"), fmtTime(q.submitted_at),
        q.submitted_by === "auto" ? ` · ${t("console.progress.auto")}` : "") : null)),
    h("td", { class: "num" }, h("span", { class: "strong" }, `${r.submitted} / ${total}`),
      r.finished ? [" ", h("span", { class: "badge", dataset: { phase: "submitted" } },
        t("console.progress.finished"))] : null)))))));
  }

  root.replaceChildren(h("section", { class: "panel" },
    h("div", { class: "panel-head" }, summary, h("span", { class: "tools" }, search,
      refreshButton)),
    h("p", { class: "field-hint", i18n: "console.progress.intro" }),
    message.el, table));
  render();
  state.timer = setInterval(() => {
    if (!document.hidden) refresh();
  }, REFRESH_MS);
  return {
    onLang: render,
    stop() {
      clearInterval(state.timer);
    },
  };
}
