// The university console (高校管理后台) for a unit admin: the unit's exams (create,
// edit, proctors, candidates' progress, submitted works) and its admitted list. For an
// operator: the admission units and their admins (#units).
//
// Views are chosen by the address's hash, so each can be bookmarked and reloaded:
//   #exams                      the exam list
//   #exams/new                  a new exam
//   #exams/{id}                 an exam's settings and questions
//   #exams/{id}/proctors | progress | submissions | incidents
//   #admitted-list              the admitted list (准考名单): import, read
// Without a session the page goes to the login page, which comes back here.
// <body data-view> names the view shown (the tests read it).

import { api } from "../lib/api.js";
import { onLangChange, t } from "../lib/i18n.js";
import { fmtTime, handleSessionEnd, loadFailed, notice, setUpTopBar } from "../lib/staff-page.js";
import { mountAdmitted } from "./console/admitted.js";
import { mountEditor } from "./console/editor.js";
import { examState, mountExams } from "./console/exams.js";
import { mountProgress } from "./console/progress.js";
import { mountProctors } from "./console/proctors.js";
import { mountSubmissions } from "./console/submissions.js";
import { mountIncidents } from "./console/incidents.js";
import { mountUnits } from "./console/units.js";
import { roleProblem } from "../lib/role-problem.js";
import { $, h } from "../lib/dom.js";
import { errorText } from "../lib/errors.js";

const ui = {
  main: $("view"), nav: $("nav"), lang: $("lang-toggle"), logOut: $("log-out"),
  who: $("account-name"), unit: $("unit-name"),
};

const TABS = ["settings", "proctors", "progress", "submissions", "incidents"];

const ctx = {
  me: null,
  unit: null, // {unit_id, name}
  flash: null, // a message for the next view: {kind, key}
  go(hash) {
    location.hash = hash;
  },
  reload() {
    page.view = null; // nothing left to ask about
    route();
  },
};

const page = { view: null, hash: "", routing: 0, frame: null };

// -- the frame of an exam's pages: its title, window and tabs ----------------------------------

class ExamFrame {
  constructor(exam, tab) {
    this.exam = exam;
    this.tab = tab;
    this.title = h("h2", { class: "view-title", testid: "exam-heading" });
    this.meta = h("p", { class: "view-meta" });
    this.body = h("div", { class: "tab-body" });
    const id = encodeURIComponent(exam?.id || "");
    this.tabs = h("nav", { class: "tabs", i18nLabel: "console.tabs.label" }, exam
      ? TABS.map((name) => h("a", {
        href: name === "settings" ? `#exams/${id}` : `#exams/${id}/${name}`,
        i18n: `console.tab.${name}`, testid: `tab-${name}`,
        "aria-current": name === tab ? "page" : undefined,
      }))
      : []);
    this.el = h("div", { class: "exam-frame" },
      h("p", { class: "crumbs" }, h("a", { href: "#exams", i18n: "console.nav.exams" }), " › "),
      this.title, this.meta, this.tabs, this.body);
    this.render();
  }

  render() {
    const e = this.exam;
    this.title.textContent = e ? e.title : t("console.editor.newTitle");
    this.meta.textContent = e
      ? t("console.exam.window", { opens: fmtTime(e.opens_at), closes: fmtTime(e.closes_at),
        state: t(`console.state.${examState(e)}`) })
      : "";
    document.title = `${e ? e.title : t("console.editor.newTitle")} · ${t("console.title")}`;
  }
}

// -- routing ---------------------------------------------------------------------------------

function parse() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean)
    .map(decodeURIComponent);
  if (parts[0] === "admitted-list") return { view: "admitted" };
  if (parts[0] === "exams" && parts[1] === "new") return { view: "new" };
  if (parts[0] === "exams" && parts[1]) {
    const tab = TABS.includes(parts[2]) ? parts[2] : "settings";
    return { view: tab, examId: parts[1] };
  }
  return { view: "exams" };
}

async function route() {
  if (page.view?.leave && !page.view.leave()) {
    history.replaceState(null, "", page.hash || "#exams"); // stay: unsaved changes
    return;
  }
  page.view?.stop?.();
  page.view = null;
  page.frame = null;
  page.hash = location.hash;
  const routing = ++page.routing;
  const where = parse();
  document.body.dataset.view = where.view;
  for (const link of ui.nav.querySelectorAll("a")) {
    const section = where.view === "admitted" ? "admitted-list" : "exams";
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  ui.main.replaceChildren(h("p", { class: "loading", i18n: "console.loading" }));
  ui.main.dataset.state = "loading";
  try {
    const view = await mount(where);
    if (routing !== page.routing) {
      view?.stop?.();
      return; // another view was asked for meanwhile
    }
    page.view = view;
    ui.main.dataset.state = "ready";
  } catch (err) {
    if (routing !== page.routing) return;
    if (handleSessionEnd(err)) return;
    console.warn(err);
    ui.main.dataset.state = "failed";
    ui.main.replaceChildren(h("div", { class: "panel" },
      notice("error", errorText(err, "console"), "view-error"),
      h("p", {}, h("button", { type: "button", class: "secondary", i18n: "console.btn.retry",
        onclick: () => route() }))));
  }
}

async function mount(where) {
  const { view, examId } = where;
  if (view === "exams") {
    document.title = `${t("console.nav.exams")} · ${t("console.title")}`;
    const root = h("div", {});
    const shown = await mountExams(ctx, root);
    ui.main.replaceChildren(root);
    return shown;
  }
  if (view === "admitted") {
    document.title = `${t("console.nav.admitted")} · ${t("console.title")}`;
    const root = h("div", {});
    const shown = await mountAdmitted(ctx, root);
    ui.main.replaceChildren(root);
    return shown;
  }
  const exam = examId
    ? await api("GET", `/api/admin/exams/${encodeURIComponent(examId)}`) : null;
  const frame = new ExamFrame(exam, view === "new" ? "settings" : view);
  ctx.examSaved = (saved) => {
    frame.exam = saved;
    frame.render();
  };
  const mounts = {
    new: () => mountEditor(ctx, frame.body, null),
    settings: () => mountEditor(ctx, frame.body, exam),
    proctors: () => mountProctors(ctx, frame.body, exam),
    progress: () => mountProgress(ctx, frame.body, exam),
    submissions: () => mountSubmissions(ctx, frame.body, exam),
    incidents: () => mountIncidents(ctx, frame.body, exam),
  };
  const shown = await mounts[view]();
  ui.main.replaceChildren(frame.el);
  page.frame = frame;
  return shown;
}

// -- start -----------------------------------------------------------------------------------

/** An operator's console: the admission units and their admins (pages/console/units.js). */
async function operatorHome() {
  ui.nav.replaceChildren(h("a", { href: "#units", "data-nav": "units", testid: "nav-units",
    i18n: "console.nav.units", "aria-current": "page" }));
  ui.nav.hidden = false;
  document.body.dataset.view = "units";
  const root = h("div", {});
  try {
    page.view = await mountUnits(ctx, root);
    ui.main.replaceChildren(root);
    ui.main.dataset.state = "ready";
  } catch (err) {
    if (handleSessionEnd(err)) return;
    ui.main.dataset.state = "failed";
    ui.main.replaceChildren(notice("error", errorText(err, "console"), "view-error"));
  }
}

function renderAccount() {
  if (!ctx.me) return;
  ui.who.textContent = t("console.who", { name: ctx.me.name });
  ui.unit.textContent = ctx.unit ? ctx.unit.name : "";
}

function onLang() {
  renderAccount();
  page.frame?.render();
  page.view?.onLang?.();
}

async function main() {
  setUpTopBar(ui, "/login?next=%2Fconsole");
  onLangChange(onLang);
  window.addEventListener("beforeunload", (event) => {
    if (page.view?.dirty) event.preventDefault();
  });
  try {
    ctx.me = (await api("GET", "/api/me")).account;
  } catch (err) {
    loadFailed(ui.main, err);
    return;
  }
  ui.logOut.hidden = false;
  renderAccount();
  if (ctx.me.role === "operator") {
    await operatorHome();
    return;
  }
  if (ctx.me.role !== "unit_admin") {
    document.body.dataset.view = "wrong-role";
    page.view = { onLang: () => ui.main.replaceChildren(roleProblem(ctx.me, "unit_admin")) };
    page.view.onLang();
    return;
  }
  try {
    ctx.unit = (await api("GET",
      `/api/admin/units/${encodeURIComponent(ctx.me.unit_id)}/admitted-list?limit=1`)).unit;
  } catch (err) {
    console.warn(err); // the unit's name is a nicety; the views say what is wrong
  }
  renderAccount();
  ui.nav.hidden = false;
  window.addEventListener("hashchange", route);
  await route();
}

main();
