// Log in (登录) or register (注册账号), then go on to the page that sent the
// candidate here (?next=/device-check), or to the admission journey.
//
// Registration: phone → SMS code (the button waits out the server's resend
// interval) → code, name, ID type and number, password → the account is
// created and logged in at once.
//
// <body data-view> is "login" or "register" (the tests read it).

import { has, lang, onLangChange, setLang, t, translatePage } from "../lib/i18n.js";
import { ApiError, api, logOut, safeNext } from "../lib/api.js";
import { loginFlows } from "./login/flows.js";
import { landing } from "../lib/role-home.js";
import { $ } from "../lib/dom.js";

const ui = {
  title: $("title"), lang: $("lang-toggle"), ended: $("session-ended"), resend: $("form-resend"),
  accepted: $("invitation-accepted"),
  pairJoining: $("pair-joining"), loginIntro: $("login-intro"),
  signedIn: $("signed-in"), signedInText: $("signed-in-text"), continueLink: $("continue"),
  logOut: $("log-out"),
  loginForm: $("login-form"), loginError: $("login-error"), loginSubmit: $("login-submit"),
  registerForm: $("register-form"), registerError: $("register-error"),
  registerSubmit: $("register-submit"),
  toRegister: $("to-register"), toLogin: $("to-login"),
  loginPhone: $("login-phone"), registerPhone: $("register-phone"),
  sendCode: $("send-code"), codeStatus: $("code-status"), code: $("register-code"),
  idType: $("register-id-type"),
};

const page = {
  view: { "#register": "register", "#reset": "reset" }[location.hash] || "login",
  next: safeNext(new URLSearchParams(location.search).get("next")),
  ended: new URLSearchParams(location.search).has("ended"), // sent here as a session ended
  // A staff invitation was accepted (staff-invitations.js): every session ended.
  accepted: new URLSearchParams(location.search).has("accepted"),
  // A form went to the server before this script was ready (routes.page_form_sent).
  resend: new URLSearchParams(location.search).has("resend"),
  me: null, // the account when already logged in
  idTypes: [],
  busy: false,
  codeSent: null, // {phone, minutes} of the last code sent
  resendAt: 0, // performance.now() when another code may be asked for
  ticker: null,
  // The last refusal of each form, shown again in the other language on a switch.
  errors: { login: null, register: null, second: null, reset: null, claim: null },
};

// -- rendering --------------------------------------------------------------------------

const TITLES = { register: "register.title", reset: "reset.title", claim: "claim.title" };

function render() {
  const register = page.view === "register";
  document.body.dataset.view = page.view;
  document.documentElement.dataset.title = TITLES[page.view] || "login.title";
  document.title = t(document.documentElement.dataset.title);
  ui.title.textContent = t(document.documentElement.dataset.title);
  ui.loginForm.hidden = page.view !== "login";
  ui.registerForm.hidden = !register;
  flows.render();
  ui.loginSubmit.disabled = page.busy;
  ui.registerSubmit.disabled = page.busy;

  ui.ended.hidden = !page.ended || Boolean(page.me);
  ui.resend.hidden = !page.resend || Boolean(page.me);
  ui.accepted.hidden = !page.accepted || Boolean(page.me);
  // Sent here by the second camera's QR code: this phone joins as the second camera.
  // (the admission steps do not come next there: the candidate's intro would mislead).
  const pairing = page.next.startsWith("/pair?");
  ui.pairJoining.hidden = !pairing;
  ui.loginIntro.hidden = pairing;
  ui.signedIn.hidden = !page.me;
  if (page.me) {
    ui.signedInText.textContent = t("login.signedIn", {
      name: page.me.name, phone: maskPhone(page.me.phone),
    });
  }
  ui.continueLink.href = landing(page.me, page.next);

  const wait = Math.ceil((page.resendAt - performance.now()) / 1000);
  ui.sendCode.disabled = page.busy || wait > 0;
  ui.sendCode.textContent = wait > 0 ? t("btn.codeCooldown", { seconds: wait })
    : t(page.codeSent ? "btn.resendCode" : "btn.sendCode");
  ui.codeStatus.hidden = !page.codeSent;
  if (page.codeSent) ui.codeStatus.textContent = t("sms.sent", page.codeSent);

  renderIdTypes();
  for (const form of Object.keys(FORMS)) showErrors(form);
}

function renderIdTypes() {
  const chosen = ui.idType.value;
  ui.idType.replaceChildren(...page.idTypes.map((type) => new Option(
    lang() === "en" ? type.name_en : type.name_zh, type.code, false, type.code === chosen,
  )));
}

function maskPhone(phone) {
  return phone && phone.length === 11 ? `${phone.slice(0, 3)}****${phone.slice(-4)}` : phone;
}

function showView(view) {
  page.view = view;
  const here = location.pathname + location.search;
  const hash = { register: "#register", reset: "#reset" }[view] || "";
  history.replaceState(null, "", here + hash);
  // The phone number typed in one form is the one the other needs.
  const [from, to] = view === "register"
    ? [ui.loginPhone, ui.registerPhone] : [ui.registerPhone, ui.loginPhone];
  if (from.value && !to.value) to.value = from.value;
  if (view === "reset" && !document.querySelector("[data-testid=reset-phone]").value) {
    document.querySelector("[data-testid=reset-phone]").value = ui.loginPhone.value;
  }
  render();
  const first = { register: ui.registerPhone, login: ui.loginPhone }[view];
  first?.focus();
}

// -- errors -----------------------------------------------------------------------------

const flows = loginFlows({
  page, fail, clearErrors, missing, values, busyWhile, showView,
  startCooldown: (seconds) => startCooldown(seconds),
  nextFor: (account) => landing(account, page.next), // staff: their own home
  fillLogin: (phone) => { ui.loginPhone.value = phone; },
  notice: (form, key) => {
    page.errors[form] = { message: key, fields: {} };
    showErrors(form);
  },
});
const FORMS = { login: () => ui.loginForm, register: () => ui.registerForm, ...flows.forms };
const NOTICES = { login: () => ui.loginError, register: () => ui.registerError, ...flows.notices };

/** Remember a refusal of ``form`` (from ``action``: login, sms or register) and show it. */
function fail(form, err, action) {
  if (!(err instanceof ApiError)) {
    console.warn(err);
    err = new ApiError(0, "network", String(err));
  }
  page.errors[form] = { err, action, fields: fieldErrors(err, action) };
  showErrors(form);
  const first = Object.keys(page.errors[form].fields)[0];
  if (first) FORMS[form]().elements[first]?.focus();
}

function clearErrors(form) {
  page.errors[form] = null;
  showErrors(form);
}

// Which fields were refused, with the server's reason for each.
function fieldErrors(err, action) {
  if (err.code === "invalid_input") {
    if (err.details.fields) return { ...err.details.fields };
    // A phone number the server could not read is refused without a field list.
    if (action !== "register") return { phone: err.message };
  }
  if (err.code === "wrong_sms_code") return { sms_code: err.message };
  if (err.code === "wrong_second_factor") return { code: err.message };
  if (err.code === "conflict" && err.details.field) return { [err.details.field]: err.message };
  return {};
}

function generalMessage({ err, action }) {
  const seconds = err.details.retry_after;
  switch (err.code) {
    case "network": return t("err.network");
    case "wrong_credentials": return t("login.wrong");
    case "rate_limited":
      return t({ login: "login.wait", sms: "sms.wait", second: "second.wait" }[action]
        || "form.wait", { seconds });
    case "wrong_second_factor": return t("second.wrong");
    case "not_found": return action === "reset" ? t("reset.noAccount") : t("err.server", {
      message: err.message,
    });
    case "forbidden": return action === "reset" ? t("reset.closed") : t("err.server", {
      message: err.message,
    });
    case "unauthenticated": return action === "second" ? t("second.expired") : t("err.server", {
      message: err.message,
    });
    case "invalid_input": return t("form.fix");
    case "wrong_sms_code":
      return err.details.tries_left ? t("sms.wrong", { n: err.details.tries_left })
        : t("sms.expired");
    case "conflict":
      if (err.details.field === "phone") return t("register.phoneTaken");
      if (err.details.field === "id_number") {
        return t(action === "claim" ? "claim.notTaken" : "register.idTaken");
      }
      return t("err.server", { message: err.message });
    default: return t("err.server", { message: err.message });
  }
}

// Under a field: what to do, in Chinese from the catalogue; in English the server's own
// reason, which names the exact problem.
function fieldMessage(name, serverText, missing, reason) {
  if (missing) return t("form.required");
  // A refused password: the reason in the page's language (policy in exams/passwords.py).
  if (reason && has(`password.${reason}`)) return t(`password.${reason}`);
  if (lang() === "en" && serverText && serverText !== "is required") {
    return serverText[0].toUpperCase() + serverText.slice(1);
  }
  return has(`invalid.${name}`) ? t(`invalid.${name}`) : serverText;
}

function showErrors(form) {
  const shown = page.errors[form];
  const notice = NOTICES[form]();
  notice.hidden = !shown;
  notice.textContent = shown ? (shown.message ? t(shown.message) : generalMessage(shown)) : "";
  const fields = shown?.fields || {};
  // A wrong SMS code or a phone / ID number taken: the notice says it, the field is marked.
  const explained = shown?.err && shown.err.code !== "invalid_input";
  for (const element of FORMS[form]().elements) {
    if (!element.name) continue;
    const text = fields[element.name];
    const line = FORMS[form]().querySelector(`[data-error-for="${element.name}"]`);
    const lined = text !== undefined && !explained;
    // The error says what the hint said, for this value: one of them is enough.
    const hint = element.closest(".field")?.querySelector(".field-hint[data-i18n]");
    if (hint) hint.hidden = lined;
    if (text === undefined) element.removeAttribute("aria-invalid");
    else element.setAttribute("aria-invalid", "true");
    if (!line) continue;
    line.hidden = !lined;
    const reason = shown?.err?.details?.reasons?.[element.name];
    line.textContent = lined ? fieldMessage(element.name, text, text === "", reason) : "";
  }
}

/** Empty fields are marked here, before asking the server: nothing to send yet. */
function missing(form, names) {
  const empty = names.filter((name) => !FORMS[form]().elements[name].value.trim());
  if (!empty.length) return false;
  const fields = Object.fromEntries(empty.map((name) => [name, ""]));
  page.errors[form] = { message: "form.fix", fields };
  showErrors(form);
  FORMS[form]().elements[empty[0]].focus();
  return true;
}

// -- actions ----------------------------------------------------------------------------

function values(form) {
  return Object.fromEntries([...form.elements].filter((e) => e.name).map((e) => [e.name, e.value]));
}

async function busyWhile(fn) {
  page.busy = true;
  render();
  try {
    return await fn();
  } finally {
    page.busy = false;
    render();
  }
}

async function logIn(event) {
  event.preventDefault();
  if (missing("login", ["phone", "password"])) return;
  clearErrors("login");
  const { phone, password } = values(ui.loginForm);
  await busyWhile(async () => {
    let reply;
    try {
      reply = await api("POST", "/api/session", { phone, password });
    } catch (err) {
      if (err.code === "second_factor_required") {
        page.busy = false;
        await flows.startSecond(err.details);
        return;
      }
      fail("login", err, "login");
      return;
    }
    location.replace(landing(reply.account, page.next)); // staff: their own home
  });
}

async function sendCode() {
  if (missing("register", ["phone"])) return;
  clearErrors("register");
  await busyWhile(async () => {
    try {
      const sent = await api("POST", "/api/sms-codes", { phone: ui.registerPhone.value });
      page.codeSent = { phone: sent.phone, minutes: Math.round((sent.expires_in || 600) / 60) };
      startCooldown(sent.resend_after || 60);
      ui.code.focus();
    } catch (err) {
      if (err.code === "rate_limited" && err.details.retry_after) {
        startCooldown(err.details.retry_after);
      }
      fail("register", err, "sms");
    }
  });
}

function startCooldown(seconds) {
  page.resendAt = performance.now() + seconds * 1000;
  clearInterval(page.ticker);
  page.ticker = setInterval(() => {
    if (performance.now() >= page.resendAt) clearInterval(page.ticker);
    render();
  }, 250);
  render();
}

async function register(event) {
  event.preventDefault();
  const names = ["phone", "sms_code", "name", "id_type", "id_number", "password"];
  if (missing("register", names)) return;
  clearErrors("register");
  const form = values(ui.registerForm);
  await busyWhile(async () => {
    try {
      await api("POST", "/api/accounts", form);
    } catch (err) {
      // Someone else registered this ID number: the way back is an identity claim.
      if (err.code === "conflict" && err.details.claim) flows.offerClaim(form);
      fail("register", err, "register");
      return;
    }
    let reply;
    try {
      reply = await api("POST", "/api/session", { phone: form.phone, password: form.password });
    } catch (err) {
      // The account exists: logging in is what is left to do.
      ui.loginPhone.value = form.phone;
      showView("login");
      fail("login", err, "login");
      return;
    }
    location.replace(landing(reply.account, page.next)); // a new account is a candidate's
  });
}

async function leave() {
  await busyWhile(async () => {
    try {
      await logOut();
      page.me = null;
    } catch (err) {
      fail("login", err, "logout");
    }
  });
}

// -- start ------------------------------------------------------------------------------

async function loadIdTypes() {
  try {
    page.idTypes = (await api("GET", "/api/id-types")).id_types;
  } catch (err) {
    fail("register", err, "id_types");
  }
  render();
}

async function whoAmI() {
  try {
    page.me = (await api("GET", "/api/me")).account;
  } catch {
    page.me = null; // not logged in (401), or offline: the forms work either way
  }
  render();
}

function wire() {
  ui.lang.addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
  onLangChange(render);
  ui.toRegister.addEventListener("click", () => showView("register"));
  ui.toLogin.addEventListener("click", () => showView("login"));
  ui.loginForm.addEventListener("submit", logIn);
  ui.registerForm.addEventListener("submit", register);
  ui.sendCode.addEventListener("click", sendCode);
  ui.logOut.addEventListener("click", leave);
  flows.wire();
  // A field being corrected is no longer marked.
  for (const [name, form] of Object.entries(FORMS)) {
    form().addEventListener("input", (event) => {
      const fields = page.errors[name]?.fields;
      if (fields && event.target.name in fields) {
        delete fields[event.target.name];
        // Every marked field corrected: "correct the marked fields" has been done.
        if (!Object.keys(fields).length) page.errors[name] = null;
        showErrors(name);
      }
    });
  }
}

function main() {
  translatePage();
  wire();
  render();
  whoAmI();
  loadIdTypes();
}

main();
