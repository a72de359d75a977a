// 账号与安全: change the password (the current one is asked; other devices are logged
// out) and, for staff, set up two-step log-in (an authenticator app) or get new
// recovery codes. Candidates come here from the journey page, staff from the console.

import { lang, onLangChange, setLang, t, translatePage } from "../lib/i18n.js";
import { ApiError, api, logOut, loginUrl } from "../lib/api.js";
import { $ } from "../lib/dom.js";

const ui = {
  lang: $("lang-toggle"), who: $("who"), back: $("back"), logOut: $("log-out"),
  pwForm: $("password-form"), pwError: $("password-error"), pwDone: $("password-done"),
  pwSubmit: $("password-submit"),
  totpForm: $("totp-form"), totpStatus: $("totp-status"), totpError: $("totp-error"),
  totpBegin: $("totp-begin"), totpSetup: $("totp-setup"), qr: $("totp-qr"),
  secret: $("totp-secret"), codeField: $("totp-code-field"), code: $("totp-code"),
  totpSubmit: $("totp-submit"), recovery: $("recovery"), recoveryCodes: $("recovery-codes"),
};

const page = {
  me: null,
  status: null, // GET /api/account/two-factor
  setup: null, // a new secret being confirmed
  codes: null, // recovery codes just made (shown once)
  busy: false,
  passwordDone: false,
  errors: { password: null, totp: null },
};

const FORMS = { password: () => ui.pwForm, totp: () => ui.totpForm };
const NOTICES = { password: () => ui.pwError, totp: () => ui.totpError };

function message(err) {
  const seconds = err.details.retry_after;
  switch (err.code) {
    case "network": return t("err.network");
    case "wrong_credentials": return t("account.oldWrong");
    case "rate_limited": return t("form.wait", { seconds });
    case "invalid_input": return t("form.fix");
    case "wrong_second_factor": return t("second.wrong");
    default: return t("err.server", { message: err.message });
  }
}

function fieldText(err, name, text) {
  const reason = err.details.reasons?.[name];
  if (reason) return t(`password.${reason}`);
  if (err.code === "wrong_credentials") return t("account.oldWrong");
  if (err.code === "wrong_second_factor") return t("second.wrong");
  return lang() === "en" ? text : t("form.fix");
}

function showErrors(form) {
  const err = page.errors[form];
  NOTICES[form]().hidden = !err;
  NOTICES[form]().textContent = err ? message(err) : "";
  let fields = err?.details.fields || {};
  if (err?.code === "wrong_second_factor") fields = { code: err.message };
  for (const element of FORMS[form]().elements) {
    if (!element.name) continue;
    const line = FORMS[form]().querySelector(`[data-error-for="${element.name}"]`);
    const text = fields[element.name];
    if (text === undefined) element.removeAttribute("aria-invalid");
    else element.setAttribute("aria-invalid", "true");
    if (!line) continue;
    line.hidden = text === undefined;
    line.textContent = text === undefined ? "" : fieldText(err, element.name, text);
  }
}

function render() {
  document.body.dataset.view = page.me ? "ready" : "loading";
  if (page.me) {
    ui.who.textContent = t("login.signedIn", { name: page.me.name, phone: page.me.phone });
    ui.back.href = page.me.role === "candidate" ? "/journey"
      : page.me.role === "staff_reviewer" ? "/console/reviews" : "/console";
  }
  ui.pwSubmit.disabled = page.busy;
  ui.pwDone.hidden = !page.passwordDone;
  const s = page.status;
  ui.totpForm.hidden = !s || !s.applies;
  if (s && s.applies) {
    ui.totpStatus.textContent = s.enrolled
      ? t("account.totpOn", { n: s.recovery_codes_left })
      : t(s.required ? "account.totpRequired" : "account.totpOff");
    ui.totpBegin.hidden = s.enrolled || Boolean(page.setup);
    ui.totpSetup.hidden = !page.setup;
    const asking = Boolean(page.setup) || (s.enrolled && !page.codes);
    ui.codeField.hidden = !asking;
    ui.totpSubmit.hidden = !asking;
    ui.totpSubmit.textContent = t(page.setup ? "second.submitSetup" : "account.newCodes");
    ui.totpSubmit.disabled = page.busy;
    ui.recovery.hidden = !page.codes;
  }
  for (const form of Object.keys(FORMS)) showErrors(form);
}

async function busyWhile(form, fn) {
  page.busy = true;
  page.errors[form] = null;
  render();
  try {
    await fn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && err.code === "unauthenticated") {
      location.replace(loginUrl(true));
      return;
    }
    page.errors[form] = err instanceof ApiError ? err : new ApiError(0, "network", String(err));
  } finally {
    page.busy = false;
    render();
  }
}

async function changePassword(event) {
  event.preventDefault();
  page.passwordDone = false;
  const body = {
    old_password: ui.pwForm.elements.old_password.value,
    new_password: ui.pwForm.elements.new_password.value,
  };
  await busyWhile("password", async () => {
    await api("POST", "/api/account/password", body);
    ui.pwForm.reset();
    page.passwordDone = true;
  });
}

async function beginTotp() {
  await busyWhile("totp", async () => {
    page.setup = await api("POST", "/api/account/two-factor");
    const svg = new DOMParser().parseFromString(page.setup.qr_svg, "image/svg+xml");
    ui.qr.replaceChildren(document.importNode(svg.documentElement, true));
    ui.secret.textContent = page.setup.secret.replace(/(.{4})/g, "$1 ").trim();
  });
  ui.code.focus();
}

function showCodes(codes) {
  page.codes = codes;
  ui.recoveryCodes.replaceChildren(...codes.map((code) => {
    const li = document.createElement("li");
    li.textContent = code;
    return li;
  }));
}

async function sendCode(event) {
  event.preventDefault();
  const code = ui.code.value.trim();
  await busyWhile("totp", async () => {
    const path = page.setup ? "/api/account/two-factor/confirm"
      : "/api/account/two-factor/recovery-codes";
    const done = await api("POST", path, { code });
    showCodes(done.recovery_codes);
    page.setup = null;
    ui.code.value = "";
    page.status = await api("GET", "/api/account/two-factor");
  });
}

async function load() {
  try {
    page.me = (await api("GET", "/api/me")).account;
    page.status = await api("GET", "/api/account/two-factor");
  } catch (err) {
    if (err.status === 401) {
      location.replace(loginUrl());
      return;
    }
    page.errors.password = err;
  }
  render();
}

function main() {
  translatePage();
  ui.lang.addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
  onLangChange(render);
  ui.pwForm.addEventListener("submit", changePassword);
  ui.totpBegin.addEventListener("click", beginTotp);
  ui.totpForm.addEventListener("submit", sendCode);
  ui.logOut.addEventListener("click", async () => {
    await logOut().catch(() => null);
    location.replace("/login");
  });
  render();
  load();
}

main();
