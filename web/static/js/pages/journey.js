// The candidate's admission journey after log-in (/journey), one step at a time,
// in the order the server enforces (GET /api/me → journey.next_step):
//
//   accept_agreements → verify_identity → read_notice → choose_unit →
//   confirm_details → accept_commitment → device_check (its own page, which
//   comes back here) → exams (the exam list's page)
//
// The progress bar groups them as the manual does: 注册登录/实人验证 → 查阅系统须知
// → 选择报考单位 → 资格确认/阅读承诺书 → 调试 → 选择考试. A step the server
// refuses (403 step_required: another tab, a new version of a text) sends the
// page to the step it names. <body data-step> is the step shown (tests read it).

import { ApiError, api, logOut, loginUrl } from "../lib/api.js";
import { has, lang, onLangChange, pick, setLang, t, translatePage } from "../lib/i18n.js";
import { documentElement, fillDetails, identityRows } from "./journey/common.js";
import "../components/verify-panel.js";
import { HOMES } from "../lib/role-home.js";
import { $, showNotice } from "../lib/dom.js";
import { errorText } from "../lib/errors.js";

const STAGES = [
  { id: "login", steps: ["accept_agreements", "verify_identity"] },
  { id: "notice", steps: ["read_notice"] },
  { id: "unit", steps: ["choose_unit"] },
  { id: "confirm", steps: ["confirm_details"] },
  { id: "commitment", steps: ["accept_commitment"] }, // 承诺书, a step of its own
  { id: "device", steps: ["device_check"] },
  { id: "exams", steps: ["exams"] },
];
// Where a refusal of each step is shown, next to its button.
const ERROR_SLOT = {
  accept_agreements: "agree-error", read_notice: "notice-error", choose_unit: "units-error",
  confirm_details: "confirm-error", accept_commitment: "commitment-error",
};

const ui = {
  lang: $("lang-toggle"), account: $("account"), accountName: $("account-name"),
  logOut: $("log-out"), nav: document.querySelector("nav.progress"),
  stages: document.querySelectorAll("[data-stage]"), progressText: $("progress-text"),
  notice: $("notice"), reload: $("reload"), sections: document.querySelectorAll("[data-view]"),
  agreementDocs: $("agreement-docs"), agreeCheck: $("agree-check"), agreeSubmit: $("agree-submit"),
  noticeTitle: $("notice-title"), noticeDoc: $("notice-doc"), noticeSubmit: $("notice-submit"),
  unitList: $("unit-list"), unitsNone: $("units-none"), unitSubmit: $("unit-submit"),
  refused: $("unit-refused"), refusedCheck: $("unit-refused-check"),
  refusedDetails: $("unit-refused-details"),
  confirmDetails: $("confirm-details"), confirmSubmit: $("confirm-submit"),
  changeUnit: $("change-unit"),
  commitmentTitle: $("commitment-title"), commitmentDoc: $("commitment-doc"),
  commitmentSubmit: $("commitment-submit"), examsSkipped: $("exams-skipped"),
};

const page = {
  me: null, // the account
  journey: null, // GET /api/me's journey
  view: "loading", // the step shown: normally journey.next_step
  busy: false,
  notice: null, // page-wide, above the step: {key, params, kind}
  error: null, // the current step's refusal, next to its button
  agreements: null, // [user agreement, privacy policy]
  noticeDoc: null,
  units: null, // {chosen_unit_id, units}
  selected: null, // unit id ticked in the list
  refused: null, // {unit_id, registered}: the last unit whose list does not hold us
  admission: null, // {unit, details, confirmed_at}
  commitment: null,
};

// 实人验证 (components/verify-panel.js): the step's panel.
const verify = $("verify-panel");
verify.account = () => page.me;
verify.addEventListener("verify-passed", (event) => refresh({
  key: event.detail.by === "manual_review" ? "journey.verify.approved" : "journey.verify.passed",
  kind: "ok",
}));
verify.addEventListener("verify-refused", (event) => {
  if (handled(event.detail.error)) event.preventDefault();
});

// -- the server ---------------------------------------------------------------------------

/** Ask where the journey stands and show that step; ``notice`` above it. */
async function refresh(notice = null) {
  try {
    const me = await api("GET", "/api/me");
    page.me = me.account;
    page.journey = me.journey;
  } catch (err) {
    if (handled(err)) return;
    fail(err);
    return;
  }
  page.notice = notice;
  if (!page.journey) { // staff: the way to their own home (issue #10)
    document.querySelector("[data-testid=staff-home]").href = HOMES[page.me.role] || "/console";
  }
  await show(page.journey ? page.journey.next_step : "not_candidate");
}

/** Refusals every step shares: log in again, or go to the step the server names. */
function handled(err) {
  if (err instanceof ApiError && err.status === 401) {
    location.replace(loginUrl(page.me !== null));
    return true;
  }
  if (err instanceof ApiError && err.code === "step_required") {
    const step = err.details.step;
    const what = has(`journey.${step}`) ? t(`journey.${step}`) : err.message;
    refresh({ key: "journey.sentBack", params: { step: what }, kind: "info" });
    return true;
  }
  return false;
}

/** The page could not load at all: say why, offer to try again. */
function fail(err) {
  console.warn(err);
  page.notice = { text: errorText(err, "journey"), kind: "error" };
  page.view = "error";
  render();
}

async function show(view) {
  const moved = view !== page.view;
  if (page.view === "verify_identity" && moved) verify.close();
  page.view = view;
  page.error = null;
  page.busy = true;
  render();
  try {
    await load(view);
  } catch (err) {
    page.busy = false;
    if (!handled(err)) fail(err);
    return;
  }
  page.busy = false;
  render();
  if (moved) {
    scrollTo(0, 0);
    document.querySelector(`[data-view="${view}"] h2`)?.focus({ preventScroll: true });
  }
}

/** What the step shows, from the server. */
async function load(view) {
  switch (view) {
    case "accept_agreements":
      page.agreements = (await api("GET", "/api/agreements")).documents;
      ui.agreeCheck.checked = false;
      break;
    case "verify_identity":
      await verify.open();
      break;
    case "read_notice":
      page.noticeDoc = await api("GET", "/api/notice");
      break;
    case "choose_unit":
      page.units = await api("GET", "/api/units");
      page.selected = page.units.chosen_unit_id;
      if (page.units.removed_from_unit && !page.refused) {
        // A re-import of the chosen unit's list left us out: say so where we choose again.
        page.refused = { unit_id: page.units.removed_from_unit, registered: null };
      }
      break;
    case "confirm_details":
      page.admission = await api("GET", "/api/admission");
      break;
    case "accept_commitment":
      page.commitment = await api("GET", "/api/admission/commitment");
      break;
    default:
      break;
  }
}

/** Send one step's answer; then on to whatever the server says comes next. */
async function act(fn) {
  page.busy = true;
  page.error = null;
  page.notice = null;
  render();
  try {
    await fn();
  } catch (err) {
    console.warn(err);
    if (!handled(err)) await refused(err);
    return;
  } finally {
    page.busy = false;
    render();
  }
  await refresh();
}

async function refused(err) {
  if (err instanceof ApiError && err.code === "not_on_admitted_list") {
    page.refused = { unit_id: err.details.unit_id, registered: err.details.registered };
    if (page.view !== "choose_unit") await show("choose_unit"); // the list changed since
    return;
  }
  if (err instanceof ApiError && err.code === "conflict" && err.details.current_version) {
    // A newer version of the text was published while it was open: show that one.
    await show(page.view);
    page.error = { key: "journey.doc.updated", kind: "warning" };
    return;
  }
  page.error = { text: errorText(err, "journey") };
}

// -- the steps' actions -------------------------------------------------------------------

function acceptAgreements() {
  if (!ui.agreeCheck.checked) {
    page.error = { key: "journey.agreements.tick" };
    render();
    ui.agreeCheck.focus();
    return;
  }
  const version = (kind) => page.agreements.find((d) => d.kind === kind)?.version;
  act(() => api("POST", "/api/agreements/accept", {
    user_agreement_version: version("user_agreement"),
    privacy_policy_version: version("privacy_policy"),
  }));
}

function readNotice() {
  act(() => api("POST", "/api/notice/read", { version: page.noticeDoc.version }));
}

function chooseUnit() {
  if (!page.selected) {
    page.error = { key: "journey.units.pick" };
    render();
    return;
  }
  page.refused = null;
  act(() => api("POST", `/api/units/${encodeURIComponent(page.selected)}/choose`));
}

function confirmDetails() {
  act(() => api("POST", "/api/admission/confirm"));
}

function acceptCommitment() {
  act(() => api("POST", "/api/admission/commitment", { version: page.commitment.version }));
}

async function leave() {
  try {
    await logOut();
  } catch (err) {
    if (err instanceof ApiError && err.code === "network") {
      page.notice = { key: "err.network", kind: "error" };
      render();
      return;
    }
  }
  location.replace("/login");
}

// -- rendering ----------------------------------------------------------------------------

function render() {
  const { view } = page;
  document.body.dataset.step = view;
  for (const section of ui.sections) section.hidden = section.dataset.view !== view;
  ui.account.hidden = !page.me;
  if (page.me) ui.accountName.textContent = t("account.who", { name: page.me.name });
  showNotice(ui.notice, page.notice);
  for (const [step, id] of Object.entries(ERROR_SLOT)) {
    showNotice($(id), step === view ? page.error : null);
  }
  for (const button of document.querySelectorAll("main button, main input")) {
    if (!button.closest("[data-testid=step-verify]")) button.disabled = page.busy;
  }
  renderProgress();
  switch (view) {
    case "accept_agreements":
      ui.agreementDocs.replaceChildren(...(page.agreements || []).map((d) => documentElement(d)));
      break;
    case "read_notice":
      renderDocument(page.noticeDoc, ui.noticeTitle, ui.noticeDoc);
      break;
    case "choose_unit":
      renderUnits();
      break;
    case "confirm_details":
      renderConfirm();
      break;
    case "accept_commitment":
      renderDocument(page.commitment, ui.commitmentTitle, ui.commitmentDoc);
      break;
    case "exams":
      ui.examsSkipped.hidden = page.journey?.device_check_required !== false;
      break;
    case "verify_identity":
      verify.render();
      break;
    default:
      break;
  }
}

function renderProgress() {
  const journey = page.journey;
  ui.nav.hidden = !journey;
  if (!journey) return;
  const done = new Set(journey.steps.filter((s) => s.done_at !== null).map((s) => s.step));
  const current = STAGES.findIndex((stage) => stage.steps.includes(page.view));
  for (const li of ui.stages) {
    const index = STAGES.findIndex((stage) => stage.id === li.dataset.stage);
    const complete = STAGES[index].steps.every((step) => done.has(step));
    li.dataset.progress = index === current ? "current" : complete ? "done" : "todo";
    if (index === current) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  }
  ui.progressText.hidden = current < 0;
  if (current >= 0) {
    ui.progressText.textContent = t("journey.progress.text", {
      n: current + 1, total: STAGES.length, name: t(`journey.stage.${STAGES[current].id}.full`),
    });
  }
}

function renderDocument(doc, title, body) {
  if (!doc) return;
  title.textContent = pick(doc.title);
  body.replaceChildren(documentElement(doc, { heading: false }));
}

function renderUnits() {
  const units = page.units?.units || [];
  const refusedId = page.refused?.unit_id;
  const legend = ui.unitList.querySelector("legend");
  ui.unitList.replaceChildren(legend, ...units.map((unit) => {
    const label = document.createElement("label");
    label.className = "choice";
    label.dataset.testid = `unit-${unit.unit_id}`;
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "unit";
    input.value = unit.unit_id;
    input.checked = unit.unit_id === page.selected;
    input.disabled = page.busy;
    const text = document.createElement("span");
    text.className = "choice-text";
    const name = document.createElement("span");
    name.className = "choice-name";
    name.textContent = unit.name;
    const code = document.createElement("span");
    code.className = "choice-code";
    code.textContent = t("journey.units.code", { id: unit.unit_id });
    text.append(name, code);
    if (unit.unit_id === page.units.chosen_unit_id) {
      code.textContent += ` · ${t("journey.units.chosen")}`;
    }
    if (unit.unit_id === refusedId) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = t("journey.units.notListed");
      text.append(tag);
    }
    label.append(input, text);
    return label;
  }));
  ui.unitList.hidden = !units.length;
  ui.unitsNone.hidden = Boolean(units.length) || !page.units;
  ui.unitSubmit.hidden = !units.length;

  ui.refused.hidden = !page.refused;
  if (page.refused) {
    const unit = units.find((u) => u.unit_id === refusedId);
    ui.refusedCheck.textContent = t("journey.units.refused.check", {
      unit: unit ? unit.name : refusedId,
    });
    fillDetails(ui.refusedDetails, identityRows(page.refused.registered || page.me));
  }
}

function renderConfirm() {
  const admission = page.admission;
  if (!admission) return;
  const person = admission.details;
  fillDetails(ui.confirmDetails, [
    [t("journey.field.unit"), t("journey.units.named", {
      name: admission.unit.name, id: admission.unit.unit_id,
    })],
    ...identityRows(person),
    [t("field.phone"), person.phone],
  ]);
}

// -- start --------------------------------------------------------------------------------

function wire() {
  ui.lang.addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
  onLangChange(render);
  ui.logOut.addEventListener("click", leave);
  ui.reload.addEventListener("click", () => refresh());
  ui.agreeSubmit.addEventListener("click", acceptAgreements);
  ui.agreeCheck.addEventListener("change", () => {
    if (ui.agreeCheck.checked && page.error?.key === "journey.agreements.tick") {
      page.error = null;
      render();
    }
  });
  ui.noticeSubmit.addEventListener("click", readNotice);
  ui.unitList.addEventListener("change", (event) => {
    page.selected = event.target.value;
    if (page.error?.key === "journey.units.pick") {
      page.error = null;
      showNotice($("units-error"), null);
    }
  });
  ui.unitSubmit.addEventListener("click", chooseUnit);
  ui.confirmSubmit.addEventListener("click", confirmDetails);
  ui.changeUnit.addEventListener("click", () => show("choose_unit"));
  ui.commitmentSubmit.addEventListener("click", acceptCommitment);
  // Back from the device check (or another page) through the browser's cache.
  addEventListener("pageshow", (event) => {
    if (event.persisted) refresh();
  });
}

function main() {
  translatePage();
  wire();
  render();
  refresh();
}

main();
