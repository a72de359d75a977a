// Identity claims (身份申诉) on the review page: someone registered a candidate's ID
// number first; the real candidate sent their phone, a photo holding the ID card and the
// password they want. Staff compare the photo, the registered account and what the
// units' admitted lists say (a list's phone number matching the claimant's is strong
// evidence), then approve (the ID number moves to the claimant's new account; the other
// account is closed) or reject.

import { ApiError, api } from "../../lib/api.js";
import { t } from "../../lib/i18n.js";
import { fmtTime, handleSessionEnd, idTypeName, messageArea } from "../../lib/staff-page.js";
import { h } from "../../lib/dom.js";
import { errorText } from "../../lib/errors.js";

function yesNo(value) {
  if (value === null || value === undefined) return t("claims.unknown");
  return t(value ? "claims.yes" : "claims.no");
}

class ClaimCard {
  constructor(claim, onChange) {
    this.claim = claim;
    this.onChange = onChange;
    this.busy = false;
    this.message = messageArea("claim-result");
    this.note = h("textarea", { rows: "2", maxlength: "500", testid: "claim-note" });
    this.details = h("dl", { class: "details" });
    this.decision = h("div", { class: "decision" });
    this.el = h("article", { class: "panel review-card", testid: "claim",
      dataset: { claimId: claim.claim_id } },
    h("button", { type: "button", class: "photo-button", i18nLabel: "console.reviews.zoom",
      onclick: () => this.el.classList.toggle("zoomed") },
    h("img", { class: "review-photo", alt: "", testid: "claim-photo",
      src: `/api/identity-claims/${encodeURIComponent(claim.claim_id)}/photo` })),
    h("div", { class: "review-body" }, this.details, this.decision, this.message.el));
    this.render();
  }

  render() {
    const c = this.claim;
    const held = c.registered_account;
    const row = (key, value, testid) => [h("dt", { i18n: key }), h("dd", { testid }, value)];
    const lists = (c.admitted_lists || []).map((l) => h("li", { testid: "claim-list" },
      t("claims.listLine", {
        unit: l.unit_id, name: yesNo(l.name_matches_claim), phone: yesNo(l.phone_matches_claim),
      })));
    this.el.dataset.state = c.state;
    this.details.replaceChildren(...[
      row("console.reviews.name", c.name, "claim-name"),
      row("console.reviews.idType", idTypeName(c.id_type) || "—"),
      row("console.reviews.idNumber", h("span", { class: "mono" }, c.id_number)),
      row("claims.phone", c.phone),
      row("console.reviews.submitted", fmtTime(c.submitted_at)),
      row("claims.registered", held ? t("claims.registeredLine", {
        name: held.name, phone: held.phone, at: fmtTime(held.created_at),
      }) : "—", "claim-registered"),
      row("claims.lists", lists.length ? h("ul", {}, ...lists) : t("claims.noList"),
        "claim-lists")].flat());
    if (c.state === "pending") {
      const approve = h("button", { type: "button", class: "primary", testid: "claim-approve",
        i18n: "claims.approve", disabled: this.busy, onclick: () => this.decide("approve") });
      const reject = h("button", { type: "button", class: "secondary danger",
        testid: "claim-reject", i18n: "console.reviews.reject", disabled: this.busy,
        onclick: () => this.decide("reject") });
      this.decision.replaceChildren(h("div", { class: "field" },
        h("label", { i18n: "console.reviews.note" }), this.note),
      h("div", { class: "actions" }, approve, reject));
    } else {
      this.decision.replaceChildren(h("p", {}, h("span", { class: "badge",
        testid: "claim-state", dataset: { state: c.state } },
      t(`console.reviews.state.${c.state}`))));
    }
    this.message.render();
  }

  async decide(decision) {
    const note = this.note.value.trim();
    this.busy = true;
    this.message.clear();
    this.render();
    try {
      const decided = await api("POST",
        `/api/identity-claims/${encodeURIComponent(this.claim.claim_id)}`,
        note ? { decision, note } : { decision });
      this.claim = { ...this.claim, ...decided };
      this.message.show("ok", () => t(decision === "approve" ? "claims.approved"
        : "console.reviews.rejected", { name: this.claim.name }));
    } catch (err) {
      if (handleSessionEnd(err)) return;
      this.message.show(err instanceof ApiError && err.status === 409 ? "warning" : "error",
        () => errorText(err, "console"));
    } finally {
      this.busy = false;
      this.render();
      this.onChange();
    }
  }
}

/** The pending identity claims, as a section of the review page. */
export function claimsSection() {
  const list = h("div", { class: "review-list", testid: "claims" });
  const message = messageArea("claims-error");
  const count = h("p", { class: "summary-line", testid: "claim-count" });
  let cards = [];

  function render() {
    const waiting = cards.filter((c) => c.claim.state === "pending").length;
    count.textContent = t("claims.pendingCount", { n: waiting });
    for (const card of cards) card.render();
    list.replaceChildren(...cards.map((c) => c.el));
    message.render();
  }

  async function load() {
    try {
      const { claims } = await api("GET", "/api/identity-claims");
      cards = claims.map((c) => new ClaimCard(c, render));
    } catch (err) {
      if (handleSessionEnd(err)) return;
      message.show("error", () => errorText(err, "console"));
    }
    render();
  }

  const el = h("section", { class: "claims", testid: "claims-section" },
    h("h2", { class: "view-title", i18n: "claims.heading" }),
    h("p", { class: "view-meta", i18n: "claims.intro" }), message.el, count, list);
  load();
  return { el, render };
}
