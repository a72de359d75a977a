// The unit's exams (GET /api/admin/exams): window, state, questions, and the way to each
// exam's settings, proctors, progress and submitted works.

import { api } from "../../lib/api.js";
import { t } from "../../lib/i18n.js";
import { fmtTime } from "../../lib/staff-page.js";
import { h } from "../../lib/dom.js";

/** upcoming, open or closed, by this device's clock (a label for the admin only). */
export function examState(exam, now = Date.now() / 1000) {
  if (now < exam.opens_at) return "upcoming";
  return now < exam.closes_at ? "open" : "closed";
}

function questionSummary(exam) {
  const online = exam.questions.filter((q) => q.mode === "online").length;
  const offline = exam.questions.length - online;
  return t("console.exams.questionCount", { n: exam.questions.length, online, offline });
}

function row(exam, now) {
  const id = encodeURIComponent(exam.id);
  const state = examState(exam, now);
  const cell = (label, ...children) => h("td", { dataset: { label: t(label) } }, ...children);
  return h("tr", { testid: "exam-row", dataset: { examId: exam.id } },
    cell("console.exams.colTitle", h("a", { href: `#exams/${id}`, class: "strong",
      testid: "exam-link" }, exam.title)),
    cell("console.exams.colWindow", h("span", {}, h("span", { class: "nowrap" },
      fmtTime(exam.opens_at)), " – ", h("span", { class: "nowrap" }, fmtTime(exam.closes_at)))),
    cell("console.exams.colState", h("span", { class: "badge", dataset: { state } },
      t(`console.state.${state}`))),
    cell("console.exams.colQuestions", questionSummary(exam)),
    cell("console.exams.colActions", h("span", { class: "link-row" },
      h("a", { href: `#exams/${id}`, i18n: "console.tab.settings" }),
      h("a", { href: `#exams/${id}/proctors`, i18n: "console.tab.proctors" }),
      h("a", { href: `#exams/${id}/progress`, i18n: "console.tab.progress",
        testid: "exam-progress-link" }),
      h("a", { href: `#exams/${id}/submissions`, i18n: "console.tab.submissions" }),
      h("a", { href: `/console/proctor/exams/${id}`, i18n: "wall.title",
        testid: "exam-wall-link" }))));
}

export async function mountExams(ctx, root) {
  const { exams, now: serverNow } = await api("GET", "/api/admin/exams");
  // The server's clock, moved on by however long this page has been open.
  const offset = serverNow ? serverNow - Date.now() / 1000 : 0;
  const now = () => Date.now() / 1000 + offset;
  exams.sort((a, b) => b.opens_at - a.opens_at);
  const render = () => {
    const heads = ["colTitle", "colWindow", "colState", "colQuestions", "colActions"];
    root.replaceChildren(
      h("div", { class: "view-head" },
        h("h2", { class: "view-title", i18n: "console.exams.title" }),
        h("a", { class: "button primary", href: "#exams/new", i18n: "console.btn.newExam",
          testid: "new-exam" })),
      h("p", { class: "view-meta", i18n: "console.exams.intro" }),
      exams.length
        ? h("div", { class: "panel flush" }, h("table", { class: "table cards", testid: "exams" },
          h("thead", {}, h("tr", {}, heads.map((k) => h("th", { i18n: `console.exams.${k}` })))),
          h("tbody", {}, exams.map((exam) => row(exam, now())))))
        : h("div", { class: "panel empty", testid: "no-exams" },
          h("p", { i18n: "console.exams.none" })));
  };
  render();
  return { onLang: render };
}
