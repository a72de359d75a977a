// The log-in page's other ways in (login.js owns the page and its log-in and register
// forms; these share its error display, busy state and SMS-code cooldown):
//
//   second — a staff log-in's second step: the authenticator's code (or a recovery
//            code); at the first log-in, setting the authenticator up (QR code, secret),
//            then showing the recovery codes once.
//   reset  — 忘记密码: an SMS code to the phone, then a new password.
//   claim  — 身份申诉: someone else registered this ID number; the real person files a
//            claim with a photo of themselves holding the ID card.

import { t } from "../../lib/i18n.js";
import { api } from "../../lib/api.js";
import { $ } from "../../lib/dom.js";


export function loginFlows(ctx) {
  const { page } = ctx;
  const ui = {
    second: $("second-form"), secondIntro: $("second-intro"), enrol: $("enrol"),
    qr: $("totp-qr"), secret: $("totp-secret"), codeField: $("second-code-field"),
    codeLabel: $("second-code-label"), code: $("second-code"), secondSubmit: $("second-submit"),
    recovery: $("recovery"), recoveryCodes: $("recovery-codes"),
    recoveryContinue: $("recovery-continue"), secondBack: $("second-back"),
    reset: $("reset-form"), resetPhone: $("reset-phone"), resetSend: $("reset-send-code"),
    resetStatus: $("reset-code-status"), resetDone: $("reset-done"), resetSubmit: $("reset-submit"),
    toReset: $("to-reset"), resetToLogin: $("reset-to-login"),
    claim: $("claim-form"), claimSend: $("claim-send-code"), claimDone: $("claim-done"),
    claimSubmit: $("claim-submit"), claimIdType: $("claim-id-type"), claimOffer: $("claim-offer"),
    toClaim: $("to-claim"), claimToLogin: $("claim-to-login"),
  };
  // The second step: {method: "totp"|"enrol", challenge, enrolment, recoveryCodes}.
  page.second = null;
  page.resetDone = null;
  page.claimDone = false;
  page.claimOffered = false;

  function render() {
    ui.second.hidden = page.view !== "second";
    ui.reset.hidden = page.view !== "reset";
    ui.claim.hidden = page.view !== "claim";
    ui.claimOffer.hidden = !page.claimOffered;
    const s = page.second;
    if (s) {
      const enrolling = s.method === "enrol" && !s.recoveryCodes;
      ui.secondIntro.textContent = t(s.method === "enrol" ? "second.enrolIntro" : "second.intro");
      ui.enrol.hidden = !enrolling || !s.enrolment;
      ui.codeLabel.textContent = t(s.method === "enrol" ? "second.firstCode" : "second.code");
      ui.codeField.hidden = Boolean(s.recoveryCodes);
      ui.secondSubmit.hidden = Boolean(s.recoveryCodes);
      ui.secondSubmit.disabled = page.busy || (s.method === "enrol" && !s.enrolment);
      ui.recovery.hidden = !s.recoveryCodes;
    }
    const wait = Math.ceil((page.resendAt - performance.now()) / 1000);
    for (const button of [ui.resetSend, ui.claimSend]) {
      button.disabled = page.busy || wait > 0;
      button.textContent = wait > 0 ? t("btn.codeCooldown", { seconds: wait })
        : t(page.codeSent ? "btn.resendCode" : "btn.sendCode");
    }
    ui.resetStatus.hidden = !page.codeSent;
    if (page.codeSent) ui.resetStatus.textContent = t("sms.sent", page.codeSent);
    ui.resetDone.hidden = !page.resetDone;
    if (page.resetDone) ui.resetDone.textContent = t("reset.done");
    ui.resetSubmit.disabled = page.busy;
    ui.claimSubmit.disabled = page.busy || page.claimDone;
    ui.claimDone.hidden = !page.claimDone;
    if (page.claimDone) ui.claimDone.textContent = t("claim.done");
    const chosen = ui.claimIdType.value;
    ui.claimIdType.replaceChildren(...page.idTypes.map((type) => new Option(
      document.documentElement.lang === "en" ? type.name_en : type.name_zh, type.code, false,
      type.code === chosen,
    )));
  }

  // -- second step ------------------------------------------------------------------------

  async function startSecond(details) {
    page.second = { method: details.method, challenge: details.challenge };
    ui.code.value = "";
    ctx.showView("second");
    if (details.method === "enrol") await loadEnrolment();
    ui.code.focus();
  }

  async function loadEnrolment() {
    await ctx.busyWhile(async () => {
      try {
        const enrolment = await api("POST", "/api/session/enrolment", {
          challenge: page.second.challenge,
        });
        page.second.enrolment = enrolment;
        const svg = new DOMParser().parseFromString(enrolment.qr_svg, "image/svg+xml");
        ui.qr.replaceChildren(document.importNode(svg.documentElement, true));
        ui.secret.textContent = enrolment.secret.replace(/(.{4})/g, "$1 ").trim();
      } catch (err) {
        ctx.fail("second", err, "second");
      }
    });
  }

  async function sendSecond(event) {
    event.preventDefault();
    if (ctx.missing("second", ["code"])) return;
    ctx.clearErrors("second");
    await ctx.busyWhile(async () => {
      let done;
      try {
        done = await api("POST", "/api/session/second-factor", {
          challenge: page.second.challenge, code: ui.code.value.trim(),
        });
      } catch (err) {
        if (err.status === 401 && err.code === "unauthenticated") page.second = null;
        ctx.fail(page.second ? "second" : "login", err, "second");
        if (!page.second) ctx.showView("login");
        return;
      }
      if (done.recovery_codes && done.recovery_codes.length) {
        page.second.account = done.account;
        page.second.recoveryCodes = done.recovery_codes;
        ui.recoveryCodes.replaceChildren(...done.recovery_codes.map((code) => {
          const li = document.createElement("li");
          li.textContent = code;
          return li;
        }));
        return; // shown once; the person continues when they have saved them
      }
      location.replace(ctx.nextFor(done.account));
    });
  }

  // -- reset ------------------------------------------------------------------------------

  async function sendCode(form, phoneInput, purpose) {
    if (ctx.missing(form, ["phone"])) return;
    ctx.clearErrors(form);
    await ctx.busyWhile(async () => {
      try {
        const body = { phone: phoneInput.value };
        if (purpose !== "register") body.purpose = purpose;
        const sent = await api("POST", "/api/sms-codes", body);
        page.codeSent = { phone: sent.phone, minutes: Math.round((sent.expires_in || 600) / 60) };
        ctx.startCooldown(sent.resend_after || 60);
      } catch (err) {
        if (err.code === "rate_limited" && err.details.retry_after) {
          ctx.startCooldown(err.details.retry_after);
        }
        ctx.fail(form, err, "sms");
      }
    });
  }

  async function sendReset(event) {
    event.preventDefault();
    if (ctx.missing("reset", ["phone", "sms_code", "new_password"])) return;
    ctx.clearErrors("reset");
    const form = ctx.values(ui.reset);
    await ctx.busyWhile(async () => {
      try {
        await api("POST", "/api/password-reset", form);
      } catch (err) {
        ctx.fail("reset", err, "reset");
        return;
      }
      page.resetDone = form.phone;
      ctx.fillLogin(form.phone);
      ctx.showView("login");
      ctx.notice("login", "reset.done");
    });
  }

  // -- claim ------------------------------------------------------------------------------

  function offerClaim(form) {
    page.claimOffered = true;
    page.claimPrefill = form;
  }

  function openClaim() {
    const form = page.claimPrefill || {};
    for (const name of ["phone", "name", "id_type", "id_number", "password"]) {
      if (form[name] && ui.claim.elements[name]) ui.claim.elements[name].value = form[name];
    }
    ctx.showView("claim");
  }

  async function sendClaim(event) {
    event.preventDefault();
    const names = ["phone", "sms_code", "name", "id_type", "id_number", "password", "photo"];
    if (ctx.missing("claim", names)) return;
    ctx.clearErrors("claim");
    const data = new FormData();
    for (const name of names.slice(0, -1)) data.append(name, ui.claim.elements[name].value);
    data.append("photo", ui.claim.elements.photo.files[0]);
    await ctx.busyWhile(async () => {
      try {
        await api("POST", "/api/identity-claims", data);
      } catch (err) {
        ctx.fail("claim", err, "claim");
        return;
      }
      page.claimDone = true;
    });
  }

  function wire() {
    ui.second.addEventListener("submit", sendSecond);
    ui.recoveryContinue.addEventListener("click", () => {
      location.replace(ctx.nextFor(page.second?.account));
    });
    ui.secondBack.addEventListener("click", () => {
      page.second = null;
      ctx.showView("login");
    });
    ui.toReset.addEventListener("click", () => {
      page.resetDone = null;
      ctx.showView("reset");
    });
    ui.resetToLogin.addEventListener("click", () => ctx.showView("login"));
    ui.resetSend.addEventListener("click", () => sendCode("reset", ui.resetPhone, "reset_password"));
    ui.reset.addEventListener("submit", sendReset);
    ui.toClaim.addEventListener("click", openClaim);
    ui.claimToLogin.addEventListener("click", () => ctx.showView("login"));
    ui.claimSend.addEventListener("click", () => sendCode("claim", $("claim-phone"), "register"));
    ui.claim.addEventListener("submit", sendClaim);
  }

  return {
    render, wire, startSecond, offerClaim,
    forms: { second: () => ui.second, reset: () => ui.reset, claim: () => ui.claim },
    notices: {
      second: () => $("second-error"), reset: () => $("reset-error"), claim: () => $("claim-error"),
    },
  };
}
