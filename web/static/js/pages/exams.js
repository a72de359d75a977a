// The exam list (选择考试) of the candidate's admission unit: each exam's window,
// instructions and time requirements, where the candidate stands, and the
// real-person verification (实人验证) each exam needs before its questions show.
//
// <body data-state>: loading, list, gated (a journey step comes first), failed.
// ?verify=<exam id> opens that exam's verification (the question pages send
// the candidate here when the server asks for it).

import { ApiError, api } from "../lib/api.js";
import { dateTime, leaveIfGated, setUpPage, showAccount } from "../lib/candidate-page.js";
import "../components/verify-panel.js";
import { t, translatePage } from "../lib/i18n.js";
import { UnfinishedUploads } from "../components/unfinished-uploads.js";
import { $ } from "../lib/dom.js";
import { errorText } from "../lib/errors.js";
import { ServerClock } from "../lib/clock.js";

const page = {
  state: "loading",
  exams: [],
  clock: new ServerClock(),
  notice: null, // {text} or {key, params}, with kind
  verifying: null, // the exam being verified
  me: null, // the logged-in account
  unfinished: new Map(), // exam id → its unfinished uploads (M4.2), once looked at
};

const ui = {
  notice: $("notice"), toJourney: $("to-journey"), loading: $("loading"), empty: $("no-exams"),
  list: $("exam-list"), template: document.getElementById("exam-card"),
};

// 实人验证 before an exam (components/verify-panel.js), over the list.
const verification = $("verify");
verification.addEventListener("verify-passed", (event) => {
  enter(event.detail.scope.slice("exam:".length));
});
verification.addEventListener("verify-refused", (event) => {
  if (event.detail.error?.status === 401 && leaveIfGated(event.detail.error)) {
    event.preventDefault();
  }
});

function examUrl(exam) {
  return `/exams/${encodeURIComponent(exam.exam_id)}`;
}

// -- rendering --------------------------------------------------------------------------

function stateBadges(exam) {
  const out = [[t(`exam.state.${exam.state}`), exam.state]];
  if (exam.finished) out.push([t("exam.finished"), "ok"]);
  else if (exam.submitted) out.push([t("exam.submittedCount", { n: exam.submitted }), "info"]);
  if (exam.verified) out.push([t("exam.verified"), "ok"]);
  return out.map(([text, kind]) => {
    const span = document.createElement("span");
    span.className = "badge";
    span.dataset.kind = kind;
    span.textContent = text;
    return span;
  });
}

function card(exam) {
  const li = ui.template.content.firstElementChild.cloneNode(true);
  translatePage(li);
  li.dataset.examId = exam.exam_id;
  li.dataset.finished = String(exam.finished);
  li.querySelector(".exam-title").textContent = exam.title;
  li.querySelector(".badges").replaceChildren(...stateBadges(exam));
  li.querySelector(".window").textContent = t("exam.windowText", {
    from: dateTime(exam.opens_at), to: dateTime(exam.closes_at),
  });
  li.querySelector(".upload-deadline").textContent = dateTime(exam.upload_deadline);
  li.querySelector(".question-count").textContent = t("exam.questionsDone", {
    n: exam.questions, done: exam.submitted,
  });
  for (const [cls, text] of [
    ["instructions", exam.instructions], ["time-requirements", exam.time_requirements],
  ]) {
    const block = li.querySelector(`.${cls}`);
    block.hidden = !text;
    block.querySelector(".prose").textContent = text;
  }
  const button = li.querySelector(".enter");
  let key = "exam.verifyAndEnter";
  if (exam.finished) key = "exam.view";
  else if (exam.verified) key = "exam.enter";
  button.textContent = t(key);
  button.classList.toggle("primary", !exam.finished);
  button.classList.toggle("secondary", exam.finished);
  button.addEventListener("click", () => choose(exam));
  return li;
}

function render() {
  document.body.dataset.state = page.state;
  ui.loading.hidden = page.state !== "loading";
  ui.notice.hidden = !page.notice;
  if (page.notice) {
    ui.notice.textContent = page.notice.text ?? t(page.notice.key, page.notice.params);
    ui.notice.dataset.kind = page.notice.kind;
  }
  ui.toJourney.hidden = page.state !== "gated";
  ui.empty.hidden = !(page.state === "list" && page.exams.length === 0);
  ui.list.replaceChildren(...(page.state === "list" ? page.exams.map(card) : []));
  showAccount(page.me);
  verification.render();
}

// -- actions ----------------------------------------------------------------------------

function choose(exam) {
  if (exam.verified) {
    location.assign(examUrl(exam));
    return;
  }
  page.verifying = exam;
  verification.open(`exam:${exam.exam_id}`, exam.title);
}

function enter(examId) {
  location.assign(`/exams/${encodeURIComponent(examId)}`);
}

async function load() {
  try {
    const [list, me] = await Promise.all([
      api("GET", "/api/exams"), api("GET", "/api/me").catch(() => null),
    ]);
    page.clock.sync(list.now);
    page.exams = list.exams;
    page.state = "list";
    page.notice = null;
    page.me = me?.account ?? null;
  } catch (err) {
    if (leaveIfGated(err)) return;
    if (err instanceof ApiError && err.code === "step_required") {
      page.state = "gated";
      page.notice = { text: errorText(err, "exam"), kind: "info" };
    } else {
      page.state = "failed";
      page.notice = { text: errorText(err, "exam"), kind: "error" };
    }
  }
  render();
  showUnfinished();
  const wanted = new URLSearchParams(location.search).get("verify");
  const exam = page.exams.find((e) => e.exam_id === wanted);
  if (exam && !exam.verified) choose(exam);
}

/** The unfinished uploads of each exam that may still have some (verified, not yet past
 * its upload deadline): shown above the list when there are any. */
function showUnfinished() {
  for (const exam of page.exams) {
    const due = exam.verified && exam.state !== "upcoming"
      && page.clock.left(exam.upload_deadline) > 0;
    if (!due || page.unfinished.has(exam.exam_id)) continue;
    const section = document.createElement("section");
    section.className = "card";
    section.dataset.testid = "unfinished";
    section.hidden = true;
    $("unfinished-exams").append(section);
    const view = new UnfinishedUploads(section, { examId: exam.exam_id, title: exam.title });
    page.unfinished.set(exam.exam_id, view);
    view.load();
  }
}

function main() {
  setUpPage(render);
  $("verify-close").addEventListener("click", () => verification.close());
  render();
  load();
}

main();
