// An exam's question list (考题列表), after real-person verification for the
// exam: the exam's instructions and time requirements, and per question its
// mode (在线录制 / 线下录制), the settings to read before starting, where the
// candidate stands and the submission deadline; "finished" once every
// question is submitted.
//
// <body data-state>: loading, list, failed; data-finished="true" when finished.

import { ApiError, api } from "../lib/api.js";
import { dateTime, leaveIfGated, remaining, setUpPage, shortTime } from "../lib/candidate-page.js";
import { t, translatePage } from "../lib/i18n.js";
import { questionBadges, renderSettings } from "../lib/question-settings.js";
import { UnfinishedUploads } from "../components/unfinished-uploads.js";
import { $ } from "../lib/dom.js";
import { errorText } from "../lib/errors.js";
import { ServerClock } from "../lib/clock.js";

const examId = decodeURIComponent(location.pathname.split("/")[2] || "");

const page = {
  state: "loading",
  data: null, // GET /api/exams/{id}
  clock: new ServerClock(),
  notice: null,
  reloadTimer: null,
  unfinished: null, // the exam's unfinished uploads (M4.2)
};

const ui = {
  notice: $("notice"), loading: $("loading"), exam: $("exam"), list: $("question-list"),
  template: document.getElementById("question-card"),
};

function questionUrl(q) {
  return `/exams/${encodeURIComponent(examId)}/questions/${encodeURIComponent(q.question_id)}`;
}

// -- rendering --------------------------------------------------------------------------

function deadlineText(q) {
  const a = q.attempt;
  if (!a) return null;
  if (q.phase === "submitted") {
    const key = a.submitted_by === "auto" ? "exam.q.autoSubmittedAt" : "exam.q.submittedAt";
    return { text: t(key, { time: shortTime(a.submitted_at, page.clock) }), kind: "ok" };
  }
  if (q.phase === "closed") {
    return { text: t("exam.q.closedAt", { time: shortTime(a.submission_deadline, page.clock) }),
      kind: "error" };
  }
  if (a.submission_deadline == null) return null;
  const left = page.clock.left(a.submission_deadline);
  return {
    text: t("exam.q.submitLeft", {
      left: remaining(left), time: shortTime(a.submission_deadline, page.clock),
    }),
    kind: left < 300 ? "warning" : "info",
  };
}

function openKey(q) {
  if (["submitted", "closed"].includes(q.phase)) return "exam.q.view";
  if (q.phase === "not_started") return "exam.q.start";
  return "exam.q.continue";
}

function card(q) {
  const li = ui.template.content.firstElementChild.cloneNode(true);
  translatePage(li);
  li.dataset.questionId = q.question_id;
  li.dataset.phase = q.phase;
  li.dataset.mode = q.mode;
  const link = li.querySelector(".question-link");
  link.href = questionUrl(q);
  link.textContent = t("exam.q.heading", { n: q.order, title: q.title });
  li.querySelector(".badges").replaceChildren(...questionBadges(q));
  const prompt = li.querySelector(".prompt");
  prompt.textContent = q.prompt;
  prompt.hidden = !q.prompt;
  renderSettings(li.querySelector(".settings .facts"), q);
  li.querySelector(".settings").open = q.phase === "not_started";
  const open = li.querySelector(".open");
  open.href = questionUrl(q);
  open.textContent = t(openKey(q));
  open.classList.add(["submitted", "closed"].includes(q.phase) ? "secondary" : "primary");
  return li;
}

function renderDeadlines() {
  for (const li of ui.list.children) {
    const q = page.data.questions.find((x) => x.question_id === li.dataset.questionId);
    const line = li.querySelector(".deadline");
    const text = q && deadlineText(q);
    line.hidden = !text;
    if (text) {
      line.textContent = text.text;
      line.dataset.kind = text.kind;
    }
  }
}

function render() {
  document.body.dataset.state = page.state;
  ui.loading.hidden = page.state !== "loading";
  ui.notice.hidden = !page.notice;
  if (page.notice) {
    ui.notice.textContent = page.notice.text;
    ui.notice.dataset.kind = page.notice.kind;
  }
  const data = page.data;
  ui.exam.hidden = !data;
  if (!data) {
    ui.list.replaceChildren();
    return;
  }
  const { exam } = data;
  document.body.dataset.finished = String(data.finished);
  document.title = `${exam.title} · ${t("exam.questions.title")}`;
  $("exam-title").textContent = exam.title;
  const badges = [[t(`exam.state.${exam.state}`), exam.state]];
  if (data.finished) badges.push([t("exam.finished"), "ok"]);
  $("exam-badges").replaceChildren(...badges.map(([text, kind]) => {
    const span = document.createElement("span");
    span.className = "badge";
    span.dataset.kind = kind;
    span.textContent = text;
    return span;
  }));
  $("exam-finished").hidden = !data.finished;
  $("exam-window").textContent = t("exam.windowText", {
    from: dateTime(exam.opens_at), to: dateTime(exam.closes_at),
  });
  $("upload-deadline").textContent = dateTime(exam.upload_deadline);
  for (const [id, text] of [
    ["instructions", exam.instructions], ["time-requirements", exam.time_requirements],
  ]) {
    $(id).hidden = !text;
    $(id).querySelector(".prose").textContent = text;
  }
  ui.list.replaceChildren(...data.questions.map(card));
  renderDeadlines();
}

// -- loading ----------------------------------------------------------------------------

/** Load again just after the next deadline, when the server will have acted on it. */
function reloadAfterNextDeadline() {
  clearTimeout(page.reloadTimer);
  const times = page.data.questions.flatMap((q) => {
    const a = q.attempt;
    if (!a || ["submitted", "closed"].includes(q.phase)) return [];
    return [a.submission_deadline, a.next_action?.at].filter((x) => typeof x === "number");
  });
  if (!times.length) return;
  const wait = Math.max(0, page.clock.left(Math.min(...times))) + 1.5;
  page.reloadTimer = setTimeout(load, Math.min(wait, 600) * 1000);
}

async function load() {
  try {
    page.data = await api("GET", `/api/exams/${encodeURIComponent(examId)}`);
    page.clock.sync(page.data.now);
    page.state = "list";
    page.notice = null;
    reloadAfterNextDeadline();
    if (!page.unfinished) {
      page.unfinished = new UnfinishedUploads($("unfinished"), {
        examId, questions: () => page.data?.questions || [], onChange: load,
      });
      page.unfinished.load();
    }
  } catch (err) {
    if (leaveIfGated(err, examId)) return;
    page.state = "failed";
    const missing = err instanceof ApiError && err.code === "not_found";
    page.notice = { text: missing ? t("exam.noSuchExam") : errorText(err, "exam"), kind: "error" };
  }
  render();
}

function main() {
  setUpPage(render);
  render();
  load();
  setInterval(() => {
    if (page.data) renderDeadlines();
  }, 1000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && page.data) load();
  });
}

main();
