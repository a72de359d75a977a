// 需二机位 on the question page (the first device): the QR code that lets the
// candidate's phone join as the second camera, and how the phone is doing (M3.5).
//
// After Rehearse or Formal answer the page asks the server for a code (``POST
// .../pairing``: a single-use link, valid ``expires_at - now``) and shows a new one
// before it expires, as long as no phone is in use. The phone's state comes from
// ``secondary_state`` socket events and ``GET .../pairing`` (after a reconnect):
// paired → connected → ready → recording, or lost / stopped. A formal take may be
// started by hand only once the phone is ready (the server refuses it before);
// while a take records without the phone (``warning``) the page says so at once.

import { api } from "../../lib/api.js";
import { clock, leaveIfGated, list } from "../../lib/candidate-page.js";
import { t } from "../../lib/i18n.js";
import { $ } from "../../lib/dom.js";
import { errorText } from "../../lib/errors.js";
import { ServerClock } from "../../lib/clock.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const RENEW_BEFORE_S = 5; // a new code this long before the shown one expires
const RETRY_AFTER_MS = 5000; // after a failed request for a code
const NEEDS_CODE = ["unpaired", "lost", "stopped"];
const DONE = ["submitted", "closed"];

// The QR code as the server draws it (segno): what may be copied, nothing else.
const SVG_ELEMENTS = new Set(["svg", "g", "path", "rect", "title"]);
const SVG_ATTRIBUTES = new Set([
  "width", "height", "viewBox", "class", "transform", "fill", "stroke", "stroke-width", "d",
  "x", "y", "shape-rendering",
]);

/**
 * ``text`` (an SVG document) as an <svg> element of this page, rebuilt element by
 * element from an allowlist: no scripts, no event handlers, no links, whatever it held.
 */
export function svgFromText(text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const root = doc.documentElement;
  if (!root || root.localName !== "svg" || doc.getElementsByTagName("parsererror").length) {
    throw new Error("the QR code could not be read");
  }
  const copy = (node) => {
    const el = document.createElementNS(SVG_NS, node.localName);
    for (const attr of node.attributes) {
      if (SVG_ATTRIBUTES.has(attr.name)) el.setAttribute(attr.name, attr.value);
    }
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE && node.localName === "title") {
        el.append(child.data);
      } else if (child.nodeType === Node.ELEMENT_NODE && SVG_ELEMENTS.has(child.localName)) {
        el.append(copy(child));
      }
    }
    return el;
  };
  const svg = copy(root);
  const width = Number.parseFloat(root.getAttribute("width"));
  const height = Number.parseFloat(root.getAttribute("height"));
  if (!svg.hasAttribute("viewBox") && width > 0 && height > 0) {
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`); // scales with its box
  }
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  return svg;
}

export class SecondCamera {
  constructor(ctx, socket) {
    this.ctx = ctx;
    this.socket = socket;
    this.ui = {
      panel: $("second-camera"), badge: $("second-state"), warning: $("second-warning"),
      text: $("second-text"), code: $("pair-code"), qr: $("pair-qr"), link: $("pair-link"),
      expires: $("pair-expires"), rule: $("second-rule"), newCode: $("pair-new-code"),
      note: $("second-note"), alert: $("second-alert"), reach: $("pair-reach"),
      reachText: $("pair-reach-text"), reachHow: $("pair-reach-how"),
      reachOptions: $("pair-reach-options"),
    };
    this.link = { state: "unpaired", warning: false }; // the last secondary_state
    this.code = null; // {url, expires_at, clock, reach}
    this.codeFor = null; // the attempt the code belongs to
    this.fetching = false;
    this.retryAt = 0;
    this.wantNewCode = false; // asked for a code although a phone is in use
  }

  get required() {
    return Boolean(this.ctx.q?.settings?.second_camera_required);
  }

  get attempt() {
    return this.ctx.q?.attempt;
  }

  /** May a formal take be started by hand (the phone tapped Ready)? */
  ready() {
    return !this.required || ["ready", "recording"].includes(this.link.state);
  }

  /** The start button of a formal take waits for the phone. */
  blocksFormal(kind) {
    return kind === "formal" && !this.ready();
  }

  start() {
    if (!this.required) return;
    this.socket.on("secondary_state", (event) => this.onState(event));
    this.socket.on("connect", () => this.resync()); // events sent while away were lost
    this.ui.newCode.addEventListener("click", () => {
      this.wantNewCode = true;
      this.code = null;
      this.ctx.render();
    });
    this.resync();
  }

  async resync() {
    if (!this.required) return;
    try {
      this.onState(await api("GET", this.ctx.path("/pairing")));
    } catch (err) {
      if (!leaveIfGated(err, this.ctx.examId)) console.warn(err);
    }
  }

  onState(event) {
    if (event.exam_id !== this.ctx.examId || event.question_id !== this.ctx.questionId) return;
    const known = this.link.changed_at;
    if (known != null && event.changed_at != null && event.changed_at < known) return; // stale
    const before = this.link;
    this.link = event;
    if (event.state !== before.state && !NEEDS_CODE.includes(event.state)) {
      this.wantNewCode = false; // a phone came: the code has done its work
      this.code = null;
    }
    this.ctx.render();
  }

  // -- what the panel shows ---------------------------------------------------------------

  /** A live answer with more to record: the phone may be needed. */
  live(st) {
    const a = this.attempt;
    if (!a || DONE.includes(st) || this.ctx.exam.state !== "open") return false;
    if (st !== "answering") return true;
    const left = a.formal?.remaining ?? this.ctx.q.settings.formal_count;
    return left > 0 && !this.ctx.q.settings.auto_submit;
  }

  showCode(st) {
    return this.live(st) && (NEEDS_CODE.includes(this.link.state) || this.wantNewCode);
  }

  render(st) {
    const { ui } = this;
    ui.panel.hidden = !this.required || DONE.includes(st);
    if (ui.panel.hidden) return;
    const a = this.attempt;
    const paired = Boolean(a) && this.link.state !== "unpaired";
    const state = this.link.state;
    ui.panel.dataset.state = state;
    ui.badge.hidden = !a;
    ui.badge.textContent = t(`exam.pair.state.${state}`);
    ui.badge.dataset.kind = { recording: "recording", ready: "ok", lost: "closed",
      stopped: "closed", connected: "info", paired: "info" }[state] || "";
    ui.text.textContent = this.message(st);

    const warning = Boolean(this.link.warning) && Boolean(a) && !DONE.includes(st);
    ui.warning.hidden = !warning;
    // Over the camera's picture too: during a take the candidate looks there.
    ui.alert.hidden = !(warning && st === "recording");
    if (warning) {
      const which = ["lost", "stopped"].includes(state) ? state : "notJoined";
      ui.warning.textContent = t(`exam.pair.warn.${which}`);
      ui.alert.textContent = `${t("exam.pair.alert")} · ${t(`exam.pair.state.${state}`)}`;
    }
    ui.rule.hidden = !["ready", "recording"].includes(state) || !this.live(st);
    ui.note.hidden = !(st === "reading" && a.reading?.kind === "formal"
      && a.reading.deadline != null && !this.ready());

    const showCode = this.showCode(st);
    if (showCode && this.codeFor !== a.attempt_id) this.code = null; // another answer's
    ui.code.hidden = !(showCode && this.code);
    this.renderReach(this.code?.reach);
    ui.newCode.hidden = showCode || !paired || !this.live(st) || state === "recording";
    this.tick();
  }

  /** A code no phone can use (it points at this machine, or has no HTTPS): what to do. */
  renderReach(reach) {
    const { ui } = this;
    ui.reach.hidden = !reach || reach.ok;
    if (ui.reach.hidden) return;
    const addresses = reach.lan_addresses || [];
    ui.reachText.textContent = t(`exam.pair.reach.${reach.problem}`);
    ui.reachHow.textContent = reach.problem === "loopback" && addresses.length
      ? t("exam.pair.reach.howLan", {
        addresses: list(addresses.map((ip) => `https://${ip}:${reach.port}`)),
      })
      : t("exam.pair.reach.how");
    ui.reachOptions.textContent = reach.restart_with;
  }

  message(st) {
    const a = this.attempt;
    if (!a) return t("exam.second.text");
    const state = this.link.state;
    if (state === "unpaired") return t("exam.pair.msg.unpaired");
    if (state === "connected" && this.link.reason === "take_stopped") {
      return t(this.live(st) ? "exam.pair.msg.again" : "exam.pair.msg.stored");
    }
    return t(`exam.pair.msg.${state}`);
  }

  /** Four times a second: the code's countdown, and a new code when it is about to expire. */
  tick() {
    const { ui } = this;
    if (!this.required || ui.panel.hidden) return;
    const st = this.ctx.state;
    if (!this.showCode(st)) return;
    const left = this.code ? this.code.clock.left(this.code.expires_at) : 0;
    if ((!this.code || left < RENEW_BEFORE_S) && !this.fetching && Date.now() >= this.retryAt
      && document.visibilityState === "visible") {
      this.fetchCode();
    }
    if (this.code) {
      const renewIn = Math.max(0, left - RENEW_BEFORE_S);
      ui.expires.textContent = t("exam.pair.expires", { left: clock(renewIn) });
    }
  }

  async fetchCode() {
    this.fetching = true;
    const attemptId = this.attempt?.attempt_id;
    try {
      const issued = await api("POST", this.ctx.path("/pairing"));
      const serverClock = new ServerClock();
      serverClock.sync(issued.now);
      this.code = {
        url: issued.url, expires_at: issued.expires_at, clock: serverClock, reach: issued.reach,
      };
      this.codeFor = issued.attempt_id || attemptId;
      this.ui.qr.replaceChildren(svgFromText(issued.qr_svg));
      const svg = this.ui.qr.firstElementChild;
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", t("exam.pair.qrLabel"));
      this.ui.link.textContent = issued.url;
      this.retryAt = 0;
      if (this.ctx.notice?.source === "pairing") this.ctx.notify(null);
    } catch (err) {
      this.retryAt = Date.now() + RETRY_AFTER_MS;
      if (!leaveIfGated(err, this.ctx.examId)) {
        // 409: no answer under way any more (submitted, closed): the page catches up.
        if (err.status === 409) this.ctx.refresh();
        else this.ctx.notify({ text: errorText(err, "exam"), kind: "error", source: "pairing" });
      }
    } finally {
      this.fetching = false;
      this.ctx.render();
    }
  }
}
