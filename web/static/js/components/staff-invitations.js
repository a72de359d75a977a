// <staff-invitations>: the pending staff invitations to the logged-in account's phone
// (issue #10), each with what accepting does, and accept / decline. An invitation never
// applies by itself. Accepting a new role ends every session of the account: the page
// goes to the login page, and the next log-in lands on the new role's home
// (role-home.js), after setting up two-step log-in where staff must.
//
//   <staff-invitations data-testid="staff-invitations" hidden></staff-invitations>
//   <script type="module" src="/static/js/components/staff-invitations.js"></script>
//
// Hidden while there is nothing to answer; <staff-invitations data-count> says how many.

import { ApiError, api } from "../lib/api.js";
import { dateTime } from "../lib/format.js";
import { has, onLangChange, t } from "../lib/i18n.js";

const ROLE_KEYS = { proctor: "invite.role.proctor", unit_admin: "invite.role.unitAdmin" };

/** What a refusal means for the invited person, in their language. */
export function refusalText(err) {
  if (!(err instanceof ApiError) || err.code === "network") return t("err.network");
  const reason = err.details?.reason;
  if (reason && has(`invite.refused.${reason}`)) return t(`invite.refused.${reason}`);
  if (err.status === 404) return t("invite.refused.gone");
  return t("err.server", { message: err.message });
}

/** The sentence saying who invites the account to what. */
export function offerText(offer) {
  const unit = offer.unit_name || offer.unit_id;
  if (offer.role === "proctor") {
    return t("invite.offer.proctor", { unit, exam: offer.exam_title || offer.exam_id });
  }
  return t("invite.offer.unitAdmin", { unit });
}

class StaffInvitations extends HTMLElement {
  connectedCallback() {
    if (this.started) return;
    this.started = true;
    this.offers = [];
    this.role = null;
    this.busy = false;
    this.message = null; // {key | text, kind}: the last answer, above the offers
    onLangChange(() => this.render());
    this.load();
  }

  async load() {
    try {
      const [me, mine] = await Promise.all([
        api("GET", "/api/me"), api("GET", "/api/account/invitations"),
      ]);
      this.role = me.account.role;
      this.offers = mine.invitations;
    } catch (err) {
      console.warn(err); // not logged in (the page itself says so), or offline: nothing shown
      this.offers = [];
    }
    this.render();
  }

  async answer(offer, action) {
    this.busy = true;
    this.message = null;
    this.render();
    const path = `/api/account/invitations/${encodeURIComponent(offer.invitation_id)}/${action}`;
    try {
      const reply = await api("POST", path);
      if (action === "accept" && reply.log_in_again) {
        // Every session ended: log in again (staff set up two-step log-in), then the new home.
        location.replace("/login?accepted=1");
        return;
      }
      if (action === "accept") { // the same role, more work (a proctor's exam): show it
        location.reload();
        return;
      }
      this.message = { key: "invite.declined", kind: "ok" };
    } catch (err) {
      console.warn(err);
      this.message = { text: refusalText(err), kind: "error" };
    }
    this.busy = false;
    await this.load();
  }

  render() {
    this.hidden = this.offers.length === 0 && !this.message;
    this.dataset.count = String(this.offers.length);
    this.replaceChildren();
    if (this.hidden) return;
    this.className = "staff-invitations";
    this.setAttribute("aria-live", "polite");
    if (this.message) {
      const note = document.createElement("p");
      note.className = "notice";
      note.dataset.kind = this.message.kind;
      note.dataset.testid = "invitation-message";
      note.setAttribute("role", this.message.kind === "error" ? "alert" : "status");
      note.textContent = this.message.text || t(this.message.key);
      this.append(note);
    }
    for (const offer of this.offers) this.append(this.card(offer));
  }

  card(offer) {
    const card = document.createElement("section");
    card.className = "invitation-offer";
    card.dataset.testid = "invitation-offer";
    card.dataset.role = offer.role;
    const title = document.createElement("h2");
    title.textContent = t("invite.offer.title");
    const what = document.createElement("p");
    what.dataset.testid = "invitation-what";
    what.textContent = offerText(offer);
    const until = document.createElement("p");
    until.className = "hint";
    until.textContent = t("invite.offer.expires", { time: dateTime(offer.expires_at) });
    const warning = document.createElement("p");
    warning.className = "notice";
    warning.dataset.kind = "warning";
    warning.dataset.testid = "invitation-warning";
    const role = t(ROLE_KEYS[offer.role] || offer.role);
    warning.textContent = this.role === offer.role
      ? t("invite.offer.same", { role })
      : t("invite.offer.warning", { role });
    const buttons = document.createElement("div");
    buttons.className = "buttons";
    const accept = document.createElement("button");
    accept.type = "button";
    accept.className = "primary";
    accept.dataset.testid = "invitation-accept";
    accept.textContent = t("invite.accept", { role });
    const decline = document.createElement("button");
    decline.type = "button";
    decline.className = "secondary";
    decline.dataset.testid = "invitation-decline";
    decline.textContent = t("invite.decline");
    accept.disabled = decline.disabled = this.busy;
    accept.addEventListener("click", () => this.answer(offer, "accept"));
    decline.addEventListener("click", () => this.answer(offer, "decline"));
    buttons.append(accept, decline);
    card.append(title, what, until, warning, buttons);
    return card;
  }
}

customElements.define("staff-invitations", StaffInvitations);
