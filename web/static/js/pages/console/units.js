// The operator's home in the console (#units): every admission unit, a new one, and each
// unit's admins invited by phone number (an SMS; the invitation applies only when that
// phone's account accepts it — the server answers the same whether it has an account).

import { api } from "../../lib/api.js";
import { t } from "../../lib/i18n.js";
import { fmtTime, handleSessionEnd, messageArea } from "../../lib/staff-page.js";
import { h } from "../../lib/dom.js";
import { errorText } from "../../lib/errors.js";

function invitationsTable(invitations) {
  if (!invitations.length) {
    return h("p", { class: "empty", testid: "no-invitations", i18n: "console.units.noInvites" });
  }
  return h("table", { class: "table compact cards", testid: "invitations" },
    h("thead", {}, h("tr", {}, ["colPhone", "colInvited", "colState"]
      .map((k) => h("th", { i18n: `console.proctors.${k}` })))),
    h("tbody", {}, invitations.map((i) => h("tr", { testid: "invitation",
      dataset: { state: i.state } },
    h("td", { class: "mono", dataset: { label: t("console.proctors.colPhone") } }, i.phone),
    h("td", { dataset: { label: t("console.proctors.colInvited") } }, fmtTime(i.created_at)),
    h("td", { dataset: { label: t("console.proctors.colState") } },
      t(`console.invite.state.${i.state}`))))));
}

/** One unit: its id and name, an invite form, its invitations (loaded when opened). */
function unitPanel(unit) {
  const base = `/api/operator/units/${encodeURIComponent(unit.unit_id)}/invitations`;
  const state = { invitations: null, busy: false };
  const message = messageArea("invite-result");
  const phone = h("input", { type: "tel", inputmode: "numeric", maxlength: "20",
    autocomplete: "off", testid: "admin-phone", id: `admin-phone-${unit.unit_id}` });
  const button = h("button", { type: "submit", class: "primary", testid: "admin-invite",
    i18n: "console.units.invite" });
  const list = h("div", {});
  const body = h("div", { class: "unit-body", hidden: true },
    h("form", { class: "inline-form", novalidate: true, onsubmit: invite },
      h("div", { class: "field" },
        h("label", { for: `admin-phone-${unit.unit_id}`, i18n: "console.units.adminPhone" }),
        h("div", { class: "control" }, phone, button))),
    message.el, list);

  async function load() {
    state.invitations = (await api("GET", base)).invitations;
    render();
  }

  async function invite(event) {
    event.preventDefault();
    const number = phone.value.trim();
    if (!number) {
      message.show("error", () => t("console.proctors.phoneRequired"));
      return;
    }
    state.busy = true;
    render();
    try {
      state.invitations = (await api("POST", base, { phone: number })).invitations;
      message.show("ok", () => t("console.units.invited", { phone: number, unit: unit.name }));
      phone.value = "";
    } catch (err) {
      if (handleSessionEnd(err)) return;
      message.show("error", () => errorText(err, "console"));
    } finally {
      state.busy = false;
      render();
    }
  }

  function render() {
    button.disabled = state.busy;
    message.render();
    list.replaceChildren(state.invitations ? invitationsTable(state.invitations) : "");
  }

  const toggle = h("button", { type: "button", class: "secondary small", testid: "unit-admins",
    i18n: "console.units.admins", onclick: () => {
      body.hidden = !body.hidden;
      if (!body.hidden && state.invitations === null) load().catch((err) => {
        message.show("error", () => errorText(err, "console"));
      });
    } });
  const el = h("section", { class: "panel unit", testid: "unit", dataset: { unit: unit.unit_id } },
    h("div", { class: "panel-head" },
      h("h3", {}, unit.name, " ", h("span", { class: "muted mono" }, unit.unit_id)), toggle),
    body);
  return { el, render };
}

export async function mountUnits(ctx, root) {
  const state = { units: (await api("GET", "/api/operator/units")).units, busy: false };
  const message = messageArea("unit-result");
  const id = h("input", { type: "text", maxlength: "32", autocomplete: "off", testid: "unit-id",
    id: "unit-id" });
  const name = h("input", { type: "text", maxlength: "100", autocomplete: "off",
    testid: "unit-name-input", id: "unit-name-input" });
  const create = h("button", { type: "submit", class: "primary", testid: "unit-create",
    i18n: "console.units.create" });
  const list = h("div", { class: "unit-list", testid: "units" });
  let panels = [];

  async function add(event) {
    event.preventDefault();
    state.busy = true;
    render();
    try {
      const made = (await api("POST", "/api/operator/units",
        { unit_id: id.value.trim(), name: name.value.trim() })).unit;
      state.units = (await api("GET", "/api/operator/units")).units;
      message.show("ok", () => t("console.units.created", { name: made.name }));
      id.value = "";
      name.value = "";
      renderList();
    } catch (err) {
      if (handleSessionEnd(err)) return;
      message.show("error", () => errorText(err, "console"));
    } finally {
      state.busy = false;
      render();
    }
  }

  function renderList() {
    panels = state.units.map(unitPanel);
    list.replaceChildren(...(panels.length ? panels.map((p) => p.el)
      : [h("p", { class: "panel empty", testid: "no-units", i18n: "console.units.none" })]));
  }

  function render() {
    create.disabled = state.busy;
    message.render();
    for (const p of panels) p.render();
  }

  document.title = `${t("console.nav.units")} · ${t("console.title")}`;
  root.replaceChildren(
    h("h2", { class: "view-title", i18n: "console.units.title" }),
    h("section", { class: "panel" },
      h("h3", { i18n: "console.units.new" }),
      h("p", { class: "field-hint", i18n: "console.units.intro" }),
      h("form", { class: "inline-form", novalidate: true, onsubmit: add },
        h("div", { class: "field" }, h("label", { for: "unit-id", i18n: "console.units.id" }),
          h("div", { class: "control" }, id)),
        h("div", { class: "field" },
          h("label", { for: "unit-name-input", i18n: "console.units.name" }),
          h("div", { class: "control" }, name)),
        h("div", { class: "control" }, create)),
      message.el),
    list);
  renderList();
  render();
  return { onLang: render };
}
