// A proctor's home (/console/proctor): the exams assigned to them, with their times, each
// linked to its wall of candidates (/console/proctor/exams/{exam_id}, pages/wall.js).
//
// <body data-view>: loading, exams or wrong-role (the tests read it).

import { api } from "../lib/api.js";
import { onLangChange, t } from "../lib/i18n.js";
import { fmtTime, loadFailed, notice, setUpTopBar } from "../lib/staff-page.js";
import { roleProblem } from "../lib/role-problem.js";
import { $, h } from "../lib/dom.js";

const ui = { main: $("view"), lang: $("lang-toggle"), logOut: $("log-out"),
  who: $("account-name") };
const page = { me: null, exams: null };

/** The exam's wall of candidates (pages/wall.js). */
const wallHref = (examId) => `/console/proctor/exams/${encodeURIComponent(examId)}`;

function render() {
  if (page.me) ui.who.textContent = t("console.who", { name: page.me.name });
  document.title = t("proctor.title");
  if (page.me && page.me.role !== "proctor") {
    document.body.dataset.view = "wrong-role";
    ui.main.replaceChildren(roleProblem(page.me, "proctor"));
    return;
  }
  if (!page.exams) return;
  document.body.dataset.view = "exams";
  ui.main.replaceChildren(
    h("section", { class: "panel" },
      h("p", { i18n: "proctor.intro" }),
      notice("info", t("proctor.live"), "proctor-live")),
    page.exams.length
      ? h("section", { class: "panel" }, h("table", { class: "table cards", testid: "proctor-exams" },
        h("thead", {}, h("tr", {},
          h("th", { i18n: "console.exams.colTitle" }), h("th", { i18n: "console.exams.colWindow" }),
          h("th", { i18n: "console.exams.colState" }))),
        h("tbody", {}, page.exams.map((e) => h("tr", { testid: "proctor-exam",
          dataset: { examId: e.exam_id, state: e.state } },
        h("td", { class: "strong" }, h("a", { href: wallHref(e.exam_id), testid: "proctor-wall-link",
          title: t("wall.open") }, e.title)),
        h("td", {}, t("proctor.window", { opens: fmtTime(e.opens_at),
          closes: fmtTime(e.closes_at) })),
        h("td", {}, h("span", { class: "badge" }, t(`proctor.state.${e.state}`))))))))
      : h("p", { class: "panel empty", testid: "no-proctor-exams", i18n: "proctor.none" }));
  ui.main.dataset.state = "ready";
}

async function main() {
  setUpTopBar(ui, "/login?next=%2Fconsole%2Fproctor");
  onLangChange(render);
  try {
    page.me = (await api("GET", "/api/me")).account;
    ui.logOut.hidden = false;
    if (page.me.role === "proctor") page.exams = (await api("GET", "/api/proctor/exams")).exams;
  } catch (err) {
    if (!loadFailed(ui.main, err)) ui.main.dataset.state = "failed";
    return;
  }
  render();
}

main();
