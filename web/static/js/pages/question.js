// One question of an exam (考题详情): its settings, the submission deadline, and
// the answer — recorded here (在线录制, pages/question/online.js) or uploaded as
// prepared files (线下录制, pages/question/offline.js).
//
// The server owns every timer: the page shows the deadlines of the last answer
// it received (``now`` + absolute times) and loads the question again just
// after each one, and whenever the server says a take started, stopped or was
// stored. <body data-state> says what the page shows (the tests read it):
// loading, failed, and the states each mode's module names.

import { api, routeCalls } from "../lib/api.js";
import { leaveIfGated, remaining, setUpPage, shortTime } from "../lib/candidate-page.js";
import { t } from "../lib/i18n.js";
import { OfflineAnswer } from "./question/offline.js";
import { OnlineAnswer } from "./question/online.js";
import { questionBadges, renderSettings } from "../lib/question-settings.js";
import { unfinishedBanner } from "../components/unfinished-uploads.js";
import { $ } from "../lib/dom.js";
import { errorText } from "../lib/errors.js";
import { ServerClock } from "../lib/clock.js";
import { SocketClient } from "../lib/socketio.js";
import { ProctorLine } from "../components/proctor-line.js";

const [, , examId, , questionId] = location.pathname.split("/").map(decodeURIComponent);
const BASE = `/api/exams/${encodeURIComponent(examId)}/questions/${encodeURIComponent(questionId)}`;
const REFRESH_AFTER_S = 1; // after a deadline: the server has acted by then

const ui = {
  loading: $("loading"), head: $("question-head"), notice: $("notice"),
  deadline: $("submit-deadline"), settings: $("settings"), nav: $("q-nav"),
  next: $("next-question"), dialog: $("confirm-dialog"),
};

/** What both modes share: the last page, the clock, the notice, calls and confirmations. */
const ctx = {
  examId,
  questionId,
  clock: new ServerClock(),
  exam: null,
  q: null, // the question with the candidate's attempt
  shownAt: 0, // the server's now of the page shown
  questions: [], // the exam's question list (for "next question")
  state: "loading",
  busy: false,
  notice: null, // {text | key, params, kind}
  answer: null, // OnlineAnswer or OfflineAnswer

  path(suffix = "") {
    return BASE + suffix;
  },

  /** A new question page from the server (any step's answer). */
  setPage(data) {
    // A page the server made before the one shown (a load that crossed a step): stale.
    if (ctx.q && data.now < ctx.shownAt) return;
    ctx.shownAt = data.now;
    ctx.clock.sync(data.now);
    ctx.exam = data.exam;
    ctx.q = data.question;
    scheduleRefresh();
    render();
  },

  notify(notice) {
    ctx.notice = notice;
    render();
  },

  /**
   * Run a step; its answer (a question page) is shown, a refusal becomes the notice
   * unless ``handle(err)`` deals with it (returns true).
   */
  async call(fn, { handle = null } = {}) {
    ctx.busy = true;
    ctx.notice = null;
    render();
    try {
      const result = await fn();
      if (result && result.question) ctx.setPage(result);
      return result;
    } catch (err) {
      if (leaveIfGated(err, examId)) return undefined;
      if (handle && handle(err)) return undefined;
      ctx.notice = { text: refusalText(err), kind: "error" };
      if (err.status === 409 || err.status === 404) refresh(); // the server moved on: catch up
      return undefined;
    } finally {
      ctx.busy = false;
      render();
    }
  },

  refresh: () => refresh(),
  render: () => render(),
  confirm,
};

function refusalText(err) {
  const details = err.details || {};
  if (err.code === "conflict" && details.question_id) {
    const other = ctx.questions.find((q) => q.question_id === details.question_id);
    return t("exam.err.busyQuestion", { n: other ? other.order : "?" });
  }
  if (err.code === "conflict" && typeof details.min_count === "number") {
    return t("exam.off.needMore", { min: details.min_count, n: details.count });
  }
  if (err.code === "conflict" && Array.isArray(details.missing)) {
    const rules = ctx.q?.settings.materials || [];
    const what = details.missing.map((key) => {
      const rule = rules.find((r) => r.key === key);
      return rule ? rule.label || t(`exam.kind.${rule.kind}`) : key;
    });
    return t("exam.materials.missing", { what: what.join("、") });
  }
  return errorText(err, "exam");
}

// -- the confirmation dialog --------------------------------------------------------------

function confirm(text, okText, danger = false) {
  return new Promise((resolve) => {
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okText;
    $("confirm-ok").classList.toggle("danger", danger);
    ui.dialog.returnValue = "";
    ui.dialog.addEventListener("close", () => resolve(ui.dialog.returnValue === "ok"),
      { once: true });
    ui.dialog.showModal();
  });
}

// -- loading and timers --------------------------------------------------------------------

let loading = null;
let again = false;
let refreshTimer = null;

/** Load the question again (one request at a time; a request during one runs after it). */
async function refresh() {
  if (loading) {
    again = true;
    return loading;
  }
  loading = (async () => {
    try {
      const data = await api("GET", BASE);
      if (ctx.state === "failed") ctx.notice = null; // loaded after all
      ctx.setPage(data);
    } catch (err) {
      if (leaveIfGated(err, examId)) return;
      ctx.notice = { text: errorText(err, "exam"), kind: "error" };
      if (!ctx.q) ctx.state = "failed";
      render();
    }
  })();
  await loading;
  loading = null;
  if (again) {
    again = false;
    await refresh();
  }
  return undefined;
}

/** Load again just after the next moment the server acts on this answer. */
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const a = ctx.q?.attempt;
  if (!a || ["submitted", "closed"].includes(ctx.q.phase)) return;
  const times = [
    a.next_action?.at, a.submission_deadline, a.reading?.deadline, a.recording?.deadline,
  ].filter((x) => typeof x === "number");
  if (!times.length) return;
  const soonest = Math.min(...times);
  const wait = Math.max(0, ctx.clock.left(soonest)) + REFRESH_AFTER_S;
  refreshTimer = setTimeout(refresh, Math.min(wait, 600) * 1000);
}

async function loadQuestionList() {
  try {
    const data = await api("GET", `/api/exams/${encodeURIComponent(examId)}`);
    ctx.questions = data.questions;
    render();
  } catch {
    ctx.questions = []; // only for "next question": the page works without it
  }
}

// -- rendering ------------------------------------------------------------------------------

function deadlineLine() {
  const q = ctx.q;
  const a = q.attempt;
  if (!a || a.submission_deadline == null) return null;
  const time = shortTime(a.submission_deadline, ctx.clock);
  if (q.phase === "submitted") return null;
  if (q.phase === "closed" && a.end_reason) { // a proctor ended it (the banner says why)
    return { text: t("exam.q.endedAt", { time: shortTime(a.closed_at, ctx.clock) }), kind: "error" };
  }
  if (q.phase === "closed") return { text: t("exam.q.closedAt", { time }), kind: "error" };
  const left = ctx.clock.left(a.submission_deadline);
  return {
    text: t("exam.q.submitLeft", { left: remaining(left), time }),
    kind: left < 300 ? "warning" : "info",
  };
}

function renderDeadline() {
  const line = ctx.q ? deadlineLine() : null;
  ui.deadline.hidden = !line;
  if (line) {
    ui.deadline.textContent = line.text;
    ui.deadline.dataset.kind = line.kind;
  }
}

function nextQuestion() {
  const list = [...ctx.questions].sort((x, y) => x.order - y.order);
  const after = list.filter((q) => q.order > ctx.q.order);
  return after.find((q) => !["submitted", "closed"].includes(q.phase)) || null;
}

function render() {
  document.body.dataset.state = ctx.state;
  ui.loading.hidden = ctx.state !== "loading";
  ui.notice.hidden = !ctx.notice;
  if (ctx.notice) {
    ui.notice.textContent = ctx.notice.text ?? t(ctx.notice.key, ctx.notice.params);
    ui.notice.dataset.kind = ctx.notice.kind;
  }
  $("back").href = `/exams/${encodeURIComponent(examId)}`;
  $("to-list").href = `/exams/${encodeURIComponent(examId)}`;
  const q = ctx.q;
  ui.head.hidden = !q;
  if (!q) return;
  document.body.dataset.mode = q.mode;
  document.body.dataset.phase = q.phase;
  document.title = `${t("exam.q.heading", { n: q.order, title: q.title })} · ${ctx.exam.title}`;
  $("exam-name").textContent = ctx.exam.title;
  $("question-title").textContent = t("exam.q.heading", { n: q.order, title: q.title });
  $("question-badges").replaceChildren(...questionBadges(q));
  $("prompt").textContent = q.prompt;
  $("prompt").hidden = !q.prompt;
  renderSettings(ui.settings.querySelector(".facts"), q);
  renderDeadline();
  proctors?.showEnded(q.attempt?.end_reason || null); // a proctor ended this question

  const done = ["submitted", "closed"].includes(q.phase);
  if (!ctx.answer) {
    ctx.answer = q.mode === "online" ? new OnlineAnswer(ctx) : new OfflineAnswer(ctx);
    ui.settings.open = q.mode === "online" ? q.phase === "not_started" : !done;
    queueMicrotask(() => ctx.answer.start());
    loadQuestionList();
  }
  const before = ctx.state;
  ctx.state = ctx.answer.state();
  if (before === "intro" && ["reading", "recording"].includes(ctx.state)) {
    ui.settings.open = false; // read before starting; now the camera matters (phones)
  }
  document.body.dataset.state = ctx.state;
  document.body.dataset.layout = q.mode === "online" && !done ? "side" : "single";
  ctx.answer.render();

  ui.nav.hidden = !done;
  const next = done ? nextQuestion() : null;
  ui.next.hidden = !next;
  if (next) {
    ui.next.href = `/exams/${encodeURIComponent(examId)}/questions/`
      + encodeURIComponent(next.question_id);
  }
}

function tick() {
  if (!ctx.q) return;
  renderDeadline();
  ctx.answer?.tick();
}

// The proctors' messages, extra time and ending (pushed), and the candidate's raised hand.
let proctors = null;

function listenToProctors() {
  const socket = new SocketClient();
  proctors = new ProctorLine({ socket, examId, onDeadline: refresh, onEnded: refresh });
  ui.notice.after(proctors.ended);
  const help = document.createElement("p");
  help.className = "proctor-help";
  ui.deadline.after(help);
  proctors.attachHand(help);
  proctors.start();
  // Events sent while away are lost (between nodes they go through Redis pub/sub, at most
  // once): after a reconnect the page asks for the whole question again.
  let connectedBefore = false;
  socket.on("connect", () => {
    if (connectedBefore) refresh();
    connectedBefore = true;
  });
  socket.connect().catch(() => {}); // a refused connection: the page works without it
}

/** Every call of this page from now on carries ``c=<my account id>``: it reaches the node of
 * my cameras, takes and uploads (decision 0026), so a take started or stopped here, and the
 * deadline a call arms, are on the node that records it. */
async function routeToMe() {
  try {
    routeCalls((await api("GET", "/api/me")).account.id);
  } catch {
    // not logged in or no network: the question's own request says so
  }
}

async function main() {
  setUpPage(render);
  listenToProctors();
  render();
  await routeToMe();
  refresh();
  // 点此续传: the exam's unfinished uploads (M4.2), in a dialog
  unfinishedBanner({ examId, anchor: ui.notice, questions: () => ctx.questions, onChange: refresh });
  setInterval(tick, 250);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });
}

main();
