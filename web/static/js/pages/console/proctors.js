// An exam's proctors (监考): invite someone by phone number (an SMS; the invitation
// applies only when that phone's account accepts it, and the server answers the same
// whether the phone has an account or not), follow the invitations, see who is
// assigned, unassign.

import { ApiError, api } from "../../lib/api.js";
import { t } from "../../lib/i18n.js";
import { fmtTime, handleSessionEnd, messageArea } from "../../lib/staff-page.js";
import { h } from "../../lib/dom.js";
import { errorText } from "../../lib/errors.js";

export async function mountProctors(ctx, root, exam) {
  const base = `/api/admin/exams/${encodeURIComponent(exam.id)}/proctors`;
  const invitesPath = `/api/admin/exams/${encodeURIComponent(exam.id)}/invitations`;
  const [assigned, invited] = await Promise.all([api("GET", base), api("GET", invitesPath)]);
  const state = { proctors: assigned.proctors, invitations: invited.invitations, busy: false,
    phoneError: null };
  const message = messageArea("proctor-result");
  const phone = h("input", { type: "tel", inputmode: "numeric", maxlength: "20",
    autocomplete: "off", testid: "proctor-phone", id: "proctor-phone" });
  const phoneError = h("p", { class: "field-error", testid: "field-error", hidden: true });
  const assignButton = h("button", { type: "submit", class: "primary", testid: "proctor-assign",
    i18n: "console.proctors.assign" });
  const list = h("div", { testid: "proctors-box" });
  const invites = h("div", { testid: "invitations-box" });

  // What the server's refusal of an assignment means for the phone number typed.
  const REFUSALS = { not_found: "console.proctors.notFound",
    conflict: "console.proctors.notProctor", invalid_input: "console.proctors.badPhone" };

  async function act(fn, done, byPhone = false) {
    state.busy = true;
    state.phoneError = null;
    message.clear();
    render();
    let ok = false;
    try {
      const reply = await fn();
      if (reply.proctors) state.proctors = reply.proctors;
      if (reply.invitations) state.invitations = reply.invitations;
      message.show("ok", done);
      ok = true;
    } catch (err) {
      if (handleSessionEnd(err)) return false;
      const key = byPhone && err instanceof ApiError ? REFUSALS[err.code] : null;
      state.phoneError = key || null; // said under the phone number
      if (!key) message.show("error", () => errorText(err, "console"));
    } finally {
      state.busy = false;
      render();
    }
    return ok;
  }

  function assign(event) {
    event.preventDefault();
    const number = phone.value.trim();
    if (!number) {
      state.phoneError = "console.proctors.phoneRequired";
      render();
      phone.focus();
      return;
    }
    act(() => api("POST", invitesPath, { phone: number }),
      () => t("console.proctors.invited", { phone: number }), true).then((ok) => {
      if (ok) phone.value = "";
    });
  }

  function unassign(p) {
    act(() => api("DELETE", `${base}/${encodeURIComponent(p.account_id)}`),
      () => t("console.proctors.removed", { name: p.name }));
  }

  function withdraw(i) {
    act(() => api("DELETE", `${invitesPath}/${encodeURIComponent(i.invitation_id)}`),
      () => t("console.proctors.withdrawn", { phone: i.phone }));
  }

  function renderInvitations() {
    invites.replaceChildren(state.invitations.length
      ? h("table", { class: "table compact cards", testid: "invitations" },
        h("thead", {}, h("tr", {}, ["colPhone", "colInvited", "colState", "colActions"]
          .map((k) => h("th", { i18n: `console.proctors.${k}` })))),
        h("tbody", {}, state.invitations.map((i) => h("tr", { testid: "invitation",
          dataset: { state: i.state } },
        h("td", { class: "mono", dataset: { label: t("console.proctors.colPhone") } }, i.phone),
        h("td", { dataset: { label: t("console.proctors.colInvited") } }, fmtTime(i.created_at)),
        h("td", { dataset: { label: t("console.proctors.colState") } },
          t(`console.invite.state.${i.state}`)),
        h("td", { dataset: { label: t("console.proctors.colActions") } }, i.state === "pending"
          ? h("button", { type: "button", class: "secondary small", disabled: state.busy,
            i18n: "console.proctors.withdraw", testid: "invitation-withdraw",
            onclick: () => withdraw(i) })
          : null)))))
      : h("p", { class: "empty", testid: "no-invitations", i18n: "console.proctors.noInvites" }));
  }

  function render() {
    renderInvitations();
    assignButton.disabled = state.busy;
    phoneError.hidden = !state.phoneError;
    phoneError.textContent = state.phoneError ? t(state.phoneError) : "";
    if (state.phoneError) phone.setAttribute("aria-invalid", "true");
    else phone.removeAttribute("aria-invalid");
    message.render();
    list.replaceChildren(state.proctors.length
      ? h("table", { class: "table compact cards", testid: "proctors" },
        h("thead", {}, h("tr", {}, ["colName", "colPhone", "colSince", "colActions"]
          .map((k) => h("th", { i18n: `console.proctors.${k}` })))),
        h("tbody", {}, state.proctors.map((p) => h("tr", { testid: "proctor" },
          h("td", { dataset: { label: t("console.proctors.colName") } }, p.name),
          h("td", { class: "mono", dataset: { label: t("console.proctors.colPhone") } }, p.phone),
          h("td", { dataset: { label: t("console.proctors.colSince") } }, fmtTime(p.assigned_at)),
          h("td", { dataset: { label: t("console.proctors.colActions") } },
            h("button", { type: "button", class: "secondary small", disabled: state.busy,
              i18n: "console.proctors.remove", testid: "proctor-remove",
              onclick: () => unassign(p) }))))))
      : h("p", { class: "empty", testid: "no-proctors", i18n: "console.proctors.none" }));
  }

  root.replaceChildren(
    h("section", { class: "panel" },
      h("h3", { i18n: "console.proctors.title" }),
      h("p", { class: "field-hint", i18n: "console.proctors.intro" }),
      h("form", { class: "inline-form", novalidate: true, onsubmit: assign },
        h("div", { class: "field" },
          h("label", { for: "proctor-phone", i18n: "console.proctors.phone" }),
          h("div", { class: "control" }, phone, assignButton), phoneError)),
      message.el),
    h("section", { class: "panel" }, h("h3", { i18n: "console.proctors.assignedTitle" }), list),
    h("section", { class: "panel" }, h("h3", { i18n: "console.proctors.invitesTitle" }),
      invites));
  render();
  return { onLang: render };
}
