// One candidate's tile on the proctors' wall: name, where they are, time left, each
// camera's state and its latest picture (a JPEG the server made: no video is decoded here).
//
// A tile is built once and then updated in place: only the parts whose data changed are
// written, and a picture is loaded again only when its ``seq`` changes, so a wall of 40
// candidates with pictures every few seconds stays light on a laptop. A new picture comes
// with its tile update (its JPEG, base64: ``picture.jpeg``, see wall.js) and is shown from a
// Blob URL, the one it replaces revoked; one without (the whole wall) is fetched by its URL.

import { clock, remaining } from "../../lib/format.js";
import { h } from "../../lib/dom.js";
import { has, t } from "../../lib/i18n.js";
import { TileAlerts, hasAlerts } from "./incidents.js";

export const CAMERAS = ["primary", "secondary"];

// The order of "by state": who needs watching first.
export const STATUSES = ["recording", "reading", "submitting", "answering", "between_questions",
  "not_started", "journey", "not_registered", "finished"];

const ACTIVE = new Set(["recording", "reading", "submitting", "answering"]);

/** A camera that needs the proctor's eye: its connection broke, or the second camera is
 * missing where the question needs it. */
export function hasProblem(tile) {
  const cameras = tile.cameras || {};
  const broken = CAMERAS.some((name) => {
    const camera = cameras[name];
    if (!camera) return false;
    if (name === "secondary" && !camera.required && !camera.link) return false;
    return camera.state === "lost" || camera.state === "reconnecting";
  });
  return broken || cameras.secondary?.second_camera === "missing";
}

/** Does the camera belong on the tile: always the first; the second once one is paired
 * or the open question needs it. */
function shown(tile, name) {
  if (name === "primary") return true;
  const second = tile.cameras?.secondary;
  return Boolean(second && (second.required || second.link));
}

function whereText(tile) {
  const q = tile.question;
  if (q) {
    // The phase is the status badge's; a take's kind is said here.
    const where = t("wall.where.question", { order: q.order, title: q.title });
    return q.take_kind ? `${where} · ${t(`wall.take.${q.take_kind}`)}` : where;
  }
  if (tile.status === "journey" && tile.journey_step) {
    const step = has(`journey.${tile.journey_step}`) ? t(`journey.${tile.journey_step}`)
      : tile.journey_step;
    return t("wall.where.step", { step });
  }
  const key = `wall.where.${tile.status}`;
  return has(key) ? t(key) : t(`wall.status.${tile.status}`);
}

/** Time left to ``tile.deadline`` in words, on the server's clock; "" without one. */
export function timeLeftText(tile, now) {
  if (!tile.deadline || !tile.deadline_kind) return "";
  const left = tile.deadline - now;
  return t(`wall.left.${tile.deadline_kind}`, { time: left < 3600 ? clock(left) : remaining(left) });
}

function pictureUrl(picture) {
  const sep = picture.url.includes("?") ? "&" : "?"; // the server's url carries c=
  return `${picture.url}${sep}seq=${encodeURIComponent(picture.seq)}`;
}

function blobUrl(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return URL.createObjectURL(new Blob([bytes], { type: "image/jpeg" }));
}

function pictureElement() {
  return h("img", { class: "tile-picture", testid: "tile-picture", alt: "", width: 320,
    height: 240 });
}

class CameraView {
  constructor(name) {
    this.name = name;
    this.seq = null; // the picture asked for last
    this.img = pictureElement(); // the picture shown (hidden until there is one)
    this.img.hidden = true;
    this.blob = null; // the Blob URL of the picture shown, if it came with its tile
    this.empty = h("span", { class: "tile-no-picture", testid: "tile-no-picture" });
    this.state = h("span", { class: "tile-camera-state", testid: "tile-camera-state" });
    this.el = h("span", { class: "tile-camera", testid: "tile-camera", dataset: { camera: name } },
      h("span", { class: "tile-frame" }, this.img, this.empty),
      h("span", { class: "tile-camera-line" },
        h("span", { class: "tile-camera-name", i18n: `wall.camera.${name}` }), this.state));
  }

  update(camera) {
    const state = camera?.state || "no_feed";
    this.el.dataset.state = state;
    let text = t(`wall.cam.${state}`);
    if (this.name === "secondary" && camera?.second_camera && camera.second_camera !== "not_needed") {
      text += ` · ${t(`wall.second.${camera.second_camera}`)}`;
      this.el.dataset.second = camera.second_camera;
    } else delete this.el.dataset.second;
    this.state.textContent = text;
    this.empty.textContent = t(state === "connected" ? "wall.picture.waiting" : "wall.picture.none");
    const picture = camera?.picture;
    if (picture && picture.seq !== this.seq) this.load(picture);
  }

  // The new picture is loaded off-screen and swapped in once decoded: the old one stays
  // until then, and a picture that is not there (404) changes nothing.
  load(picture) {
    const seq = picture.seq;
    this.seq = seq;
    const next = pictureElement();
    next.dataset.seq = String(seq);
    const blob = picture.jpeg ? blobUrl(picture.jpeg) : null;
    next.addEventListener("load", () => {
      if (this.seq !== seq) { // a newer one was asked for meanwhile
        if (blob) URL.revokeObjectURL(blob);
        return;
      }
      this.img.replaceWith(next);
      this.img = next;
      this.empty.hidden = true;
      if (this.blob) URL.revokeObjectURL(this.blob);
      this.blob = blob;
    }, { once: true });
    if (blob) next.addEventListener("error", () => URL.revokeObjectURL(blob), { once: true });
    next.src = blob || pictureUrl(picture);
  }

  /** The camera leaves its tile: its picture's Blob URL is given back. */
  dispose() {
    if (this.blob) URL.revokeObjectURL(this.blob);
    this.blob = null;
  }
}

/** One tile. ``onOpen(tile)`` when it is chosen (click or Enter) for the spotlight. */
export class TileView {
  constructor(tile, onOpen) {
    this.data = null;
    this.key = "";
    this.cameras = {};
    this.name = h("span", { class: "tile-name", testid: "tile-name" });
    this.status = h("span", { class: "badge tile-status", testid: "tile-status" });
    this.hand = h("span", { class: "badge tile-hand", testid: "tile-hand", hidden: true });
    this.where = h("span", { class: "tile-where", testid: "tile-where" });
    this.left = h("span", { class: "tile-left", testid: "tile-left" });
    this.progress = h("span", { class: "tile-progress", testid: "tile-progress" });
    this.pictures = h("span", { class: "tile-pictures" });
    this.alerts = new TileAlerts(); // open incidents (issue #13)
    this.el = h("button", { type: "button", class: "tile", testid: "wall-tile",
      onclick: () => this.data.candidate_id && onOpen(this.data) },
    this.pictures,
    this.alerts.el,
    h("span", { class: "tile-head" }, this.name, this.hand, this.status),
    this.where,
    h("span", { class: "tile-foot" }, this.progress, this.left));
    this.update(tile);
  }

  /** Take the tile's new data; writes only what changed. Returns whether anything did. */
  update(tile) {
    const key = JSON.stringify(tile);
    if (key === this.key) return false;
    this.key = key;
    this.data = tile;
    const el = this.el;
    el.dataset.tileId = tile.tile_id;
    el.dataset.candidateId = tile.candidate_id || "";
    el.dataset.status = tile.status;
    el.dataset.problem = hasProblem(tile) ? "true" : "false";
    el.dataset.alerts = String(hasAlerts(tile));
    el.disabled = !tile.candidate_id;
    this.render();
    return true;
  }

  /** Write every text again (a language switch), then the pictures' parts. */
  render() {
    const tile = this.data;
    this.name.textContent = tile.name;
    if (!tile.on_list) this.name.append(h("span", { class: "tile-off-list", i18n: "wall.offList" }));
    this.status.textContent = t(`wall.status.${tile.status}`);
    this.hand.hidden = !tile.hand_raised_at; // the candidate asks for help
    this.hand.textContent = t("wall.hand");
    this.el.dataset.hand = tile.hand_raised_at ? "raised" : "none";
    this.status.dataset.status = tile.status;
    this.where.textContent = whereText(tile);
    this.alerts.update(tile);
    this.progress.textContent = tile.registered
      ? t("wall.progress", { done: tile.submitted, total: tile.questions }) : "";
    this.el.title = tile.candidate_id ? t("wall.openHint", { name: tile.name }) : "";
    for (const name of CAMERAS) {
      const wanted = tile.registered && shown(tile, name);
      if (wanted && !this.cameras[name]) {
        this.cameras[name] = new CameraView(name);
        this.pictures.append(this.cameras[name].el);
      } else if (!wanted && this.cameras[name]) {
        this.cameras[name].el.remove();
        this.cameras[name].dispose();
        delete this.cameras[name];
      }
      if (this.cameras[name]) this.cameras[name].update(tile.cameras?.[name]);
    }
    this.pictures.dataset.count = String(Object.keys(this.cameras).length);
  }

  /** The time left, counted down on the server's clock ``now``. */
  tick(now) {
    const text = timeLeftText(this.data, now);
    if (this.left.textContent !== text) this.left.textContent = text;
    const urgent = Boolean(text) && this.data.deadline - now < 60 && ACTIVE.has(this.data.status);
    if ((this.el.dataset.urgent === "true") !== urgent) this.el.dataset.urgent = String(urgent);
  }
}
