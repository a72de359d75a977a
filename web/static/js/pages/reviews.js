// Manual review (人工审核) for review staff: a candidate who failed real-person
// verification three times in a row sent a photo of themselves holding their ID card;
// staff compare it with the registered name and ID number, then approve (it counts as
// verified for that scope) or reject with a reason the candidate sees.
//
// <body data-view>: loading, queue or wrong-role (the tests read it).

import { ApiError, api } from "../lib/api.js";
import { onLangChange, t } from "../lib/i18n.js";
import {
  busyWith, fmtTime, handleSessionEnd, idTypeName, loadFailed, messageArea, notice, setUpTopBar,
} from "../lib/staff-page.js";
import { roleProblem } from "../lib/role-problem.js";
import { claimsSection } from "./reviews/claims.js";
import { $, h } from "../lib/dom.js";
import { errorText } from "../lib/errors.js";

const STATES = ["pending", "approved", "rejected"];
const ui = { main: $("view"), lang: $("lang-toggle"), logOut: $("log-out"),
  who: $("account-name") };

const page = { me: null, state: "pending", reviews: [], cards: new Map(), render: null };

function scopeText(scope) {
  if (scope === "login") return t("console.reviews.scope.login");
  const exam = /^exam:(.+)$/.exec(scope)?.[1];
  return exam ? t("console.reviews.scope.exam", { exam }) : scope;
}

/** One review: the photo beside the registered details, and the decision. */
class ReviewCard {
  constructor(review) {
    this.review = review;
    this.busy = false;
    this.noteError = null;
    this.message = messageArea("review-result");
    this.photo = h("img", { class: "review-photo", alt: "", testid: "review-photo",
      src: `/api/reviews/${encodeURIComponent(review.review_id)}/photo` });
    this.note = h("textarea", { rows: "2", maxlength: "500", testid: "review-note",
      id: `note-${review.review_id}` });
    this.noteLine = h("p", { class: "field-error", testid: "field-error", hidden: true });
    this.approve = h("button", { type: "button", class: "primary", testid: "approve",
      i18n: "console.reviews.approve", onclick: () => this.decide("approve") });
    this.reject = h("button", { type: "button", class: "secondary danger", testid: "reject",
      i18n: "console.reviews.reject", onclick: () => this.decide("reject") });
    this.details = h("dl", { class: "details" });
    this.decision = h("div", { class: "decision" });
    this.el = h("article", { class: "panel review-card", testid: "review",
      dataset: { reviewId: review.review_id } },
    h("button", { type: "button", class: "photo-button", i18nLabel: "console.reviews.zoom",
      onclick: () => this.el.classList.toggle("zoomed") }, this.photo),
    h("div", { class: "review-body" }, this.details, this.decision, this.message.el));
    this.photo.addEventListener("error", () => this.photoFailed());
    this.render();
  }

  photoFailed() {
    this.message.show("error", () => t("console.reviews.photoFailed"));
  }

  render() {
    const r = this.review;
    const c = r.candidate || {};
    const row = (key, value, testid) => [h("dt", { i18n: key }),
      h("dd", { testid }, value)];
    this.el.dataset.state = r.state;
    this.details.replaceChildren(...[
      row("console.reviews.name", c.name || "—", "review-name"),
      row("console.reviews.idType", idTypeName(c.id_type) || "—"),
      row("console.reviews.idNumber", h("span", { class: "mono" }, c.id_number || "—"),
        "review-id-number"),
      row("console.reviews.scope", scopeText(r.scope)),
      row("console.reviews.submitted", fmtTime(r.submitted_at))].flat());
    if (r.state === "pending") {
      this.approve.disabled = this.reject.disabled = this.busy;
      this.note.disabled = this.busy;
      this.noteLine.hidden = !this.noteError;
      this.noteLine.textContent = this.noteError ? t(this.noteError) : "";
      if (this.noteError) this.note.setAttribute("aria-invalid", "true");
      else this.note.removeAttribute("aria-invalid");
      if (!this.decision.contains(this.note)) {
        this.decision.replaceChildren(
          h("div", { class: "field" },
            h("label", { for: this.note.id, i18n: "console.reviews.note" }),
            this.note,
            h("p", { class: "field-hint", i18n: "console.reviews.noteHint" }),
            this.noteLine),
          h("div", { class: "actions" }, this.approve, this.reject));
      }
    } else {
      this.decision.replaceChildren(
        h("p", {}, h("span", { class: "badge", testid: "review-state",
          dataset: { state: r.state } }, t(`console.reviews.state.${r.state}`)), " ",
        h("span", { class: "muted" }, r.decided_at ? fmtTime(r.decided_at) : "")),
        ...(r.note ? [h("p", { class: "muted" }, t("console.reviews.noteWas", { note: r.note }))]
          : []));
    }
    this.message.render();
  }

  async decide(decision) {
    const note = this.note.value.trim();
    this.noteError = null;
    if (decision === "reject" && !note) {
      this.noteError = "console.reviews.noteRequired";
      this.render();
      this.note.focus();
      return;
    }
    this.busy = true;
    this.message.clear();
    this.render();
    try {
      const decided = await api("POST", `/api/reviews/${encodeURIComponent(this.review.review_id)}`,
        note ? { decision, note } : { decision });
      this.review = { ...this.review, ...decided };
      this.message.show("ok", () => t(decision === "approve" ? "console.reviews.approved"
        : "console.reviews.rejected", { name: this.review.candidate?.name || "" }));
    } catch (err) {
      if (handleSessionEnd(err)) return;
      if (err instanceof ApiError && err.status === 409) {
        const state = err.details.state;
        if (STATES.includes(state)) this.review = { ...this.review, state };
        this.message.show("warning", () => t("console.reviews.alreadyDecided"));
      } else {
        this.message.show("error", () => errorText(err, "console"));
      }
    } finally {
      this.busy = false;
      this.render();
      page.render?.();
    }
  }
}

async function load() {
  const { reviews } = await api("GET", `/api/reviews?state=${page.state}&limit=200`);
  page.reviews = reviews;
  page.cards = new Map(reviews.map((r) => [r.review_id, new ReviewCard(r)]));
}

function mountQueue() {
  const message = messageArea("queue-error");
  const tabs = h("nav", { class: "tabs", i18nLabel: "console.reviews.tabs" });
  const count = h("p", { class: "summary-line", testid: "review-count" });
  const list = h("div", { class: "review-list", testid: "reviews" });
  const refresh = h("button", { type: "button", class: "secondary small", testid: "refresh",
    i18n: "console.btn.refresh", onclick: () => show(page.state) });

  async function show(state) {
    page.state = state;
    await busyWith(refresh, message, load, render);
  }

  function render() {
    tabs.replaceChildren(...STATES.map((state) => h("a", { href: `#${state}`,
      testid: `tab-${state}`, i18n: `console.reviews.tab.${state}`,
      "aria-current": state === page.state ? "page" : undefined,
      onclick: (event) => {
        event.preventDefault();
        history.replaceState(null, "", `#${state}`);
        show(state);
      } })));
    const waiting = [...page.cards.values()].filter((c) => c.review.state === "pending").length;
    count.textContent = page.state === "pending"
      ? t("console.reviews.pendingCount", { n: waiting })
      : t("console.reviews.count", { n: page.cards.size });
    message.render();
    for (const card of page.cards.values()) card.render();
    list.replaceChildren(...(page.cards.size ? [...page.cards.values()].map((c) => c.el)
      : [h("p", { class: "panel empty", testid: "no-reviews",
        i18n: `console.reviews.none.${page.state}` })]));
  }

  const claims = claimsSection();
  page.render = () => {
    render();
    claims.render();
  };
  ui.main.replaceChildren(
    h("div", { class: "view-head" }, h("h2", { class: "view-title",
      i18n: "console.reviews.heading" }), refresh),
    h("p", { class: "view-meta", i18n: "console.reviews.intro" }),
    h("ul", { class: "hints checklist" },
      h("li", { i18n: "console.reviews.check1" }),
      h("li", { i18n: "console.reviews.check2" }),
      h("li", { i18n: "console.reviews.check3" })),
    tabs, message.el, count, list, claims.el);
  render();
}

function renderAccount() {
  if (page.me) ui.who.textContent = t("console.who", { name: page.me.name });
}

async function main() {
  setUpTopBar(ui, "/login?next=%2Fconsole%2Freviews");
  onLangChange(() => {
    renderAccount();
    page.render?.();
  });
  try {
    page.me = (await api("GET", "/api/me")).account;
  } catch (err) {
    loadFailed(ui.main, err);
    return;
  }
  ui.logOut.hidden = false;
  renderAccount();
  const problem = () => roleProblem(page.me, "staff_reviewer");
  if (problem()) {
    document.body.dataset.view = "wrong-role";
    ui.main.replaceChildren(problem());
    page.render = () => ui.main.replaceChildren(problem());
    return;
  }
  const wanted = location.hash.slice(1);
  page.state = STATES.includes(wanted) ? wanted : "pending";
  try {
    await load();
  } catch (err) {
    if (handleSessionEnd(err)) return;
    ui.main.replaceChildren(notice("error", errorText(err, "console"), "view-error"));
    return;
  }
  document.body.dataset.view = "queue";
  mountQueue();
}

main();
