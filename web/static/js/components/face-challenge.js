// <face-challenge>: the face check's liveness challenge (issue #17), inside <verify-panel>.
// It opens the camera (video only), shows the preview, then runs the server's challenge
// ({kind: "face_liveness", steps, step_prompts, seconds, frames, frame_side,
// max_frame_bytes}): the steps one by one, each with its own share of the seconds and a
// bar counting down, while it captures `frames` JPEG frames at an even pace with a canvas
// (the middle square of the picture, `frame_side` pixels: unmirrored, as the camera sees
// it). The answer the panel sends: {frames: [{t_ms, jpeg (base64)}, ...]}.
//
//   const face = document.createElement("face-challenge");
//   await face.prepare(challenge);      // the camera opens; throws when it cannot
//   const answer = await face.run();    // the steps, then {frames}
//   face.stop();                        // the camera closes
//
// <body data-face> carries its state for the tests: preparing, ready, step-<n>, done.

import { h } from "../lib/dom.js";
import { has, pick, t } from "../lib/i18n.js";

const QUALITIES = [0.6, 0.45, 0.3]; // a frame over its budget is encoded again, smaller
// The whole answer stays under the server's 1 MiB body: base64 adds a third.
const BODY_BUDGET = 900 * 1024;

function base64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function jpeg(canvas, quality) {
  return new Promise((resolve) => {
    canvas.toBlob(resolve, "image/jpeg", quality);
  });
}

function stepText(challenge, i) {
  const step = challenge.steps[i];
  const key = `verify.face.step.${step}`;
  return has(key) ? t(key) : pick(challenge.step_prompts?.[i]) || step;
}

class FaceChallenge extends HTMLElement {
  connectedCallback() {
    if (this.ui) return;
    this.classList.add("face-challenge");
    this.ui = {
      video: h("video", {
        class: "face-preview", testid: "face-preview", autoplay: true, muted: true,
        playsinline: true,
      }),
      step: h("p", { class: "face-step", testid: "face-step", role: "status",
        "aria-live": "assertive" }),
      steps: h("ol", { class: "face-steps", testid: "face-steps" }),
      bar: h("progress", { class: "face-bar", testid: "face-bar", max: 1, value: 0,
        hidden: true }),
      hint: h("p", { class: "field-hint", testid: "face-hint", i18n: "verify.face.hint" }),
    };
    this.ui.video.muted = true;
    this.append(this.ui.video, this.ui.step, this.ui.bar, this.ui.steps, this.ui.hint);
    this.stream = null;
  }

  /** Open the camera and show the challenge's steps; throws (the camera's error). */
  async prepare(challenge) {
    this.challenge = challenge;
    document.body.dataset.face = "preparing";
    this.ui.steps.replaceChildren(
      ...challenge.steps.map((_, i) => h("li", { text: stepText(challenge, i) })),
    );
    this.ui.step.textContent = t("verify.face.ready");
    this.ui.bar.hidden = true;
    if (!this.stream) {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: { ideal: "user" }, width: { ideal: 640 }, height: { ideal: 480 } },
      });
    }
    this.ui.video.srcObject = this.stream;
    await this.ui.video.play().catch(() => {});
    document.body.dataset.face = "ready";
  }

  /** The steps one by one while the frames are captured; the answer to send. */
  async run() {
    const c = this.challenge;
    const total = c.seconds * 1000;
    const count = Math.max(6, c.frames);
    const every = total / count;
    const canvas = document.createElement("canvas");
    canvas.width = c.frame_side || 420;
    const limit = Math.min(c.max_frame_bytes || Infinity, Math.floor((BODY_BUDGET * 3) / 4 / count));
    canvas.height = canvas.width;
    const frames = [];
    const started = performance.now();
    let first = null;
    this.ui.bar.hidden = false;
    for (let n = 0; n < count; n += 1) {
      const due = started + n * every;
      const wait = due - performance.now();
      if (wait > 0) {
        await new Promise((r) => {
          setTimeout(r, wait);
        });
      }
      if (!this.stream) throw new DOMException("the challenge was stopped", "AbortError");
      const at = performance.now() - started;
      this.show(Math.min(c.steps.length - 1, Math.floor((at / total) * c.steps.length)), at / total);
      const shot = performance.now();
      if (first === null) first = shot;
      let tMs = Math.round(shot - first);
      if (frames.length && tMs <= frames[frames.length - 1].t_ms) {
        tMs = frames[frames.length - 1].t_ms + 1;
      }
      frames.push({ t_ms: tMs, jpeg: await this.capture(canvas, limit) });
    }
    this.ui.bar.value = 1;
    this.ui.step.textContent = t("verify.face.sending");
    document.body.dataset.face = "done";
    return { frames };
  }

  show(i, share) {
    if (this.current !== i) {
      this.current = i;
      this.ui.step.textContent = stepText(this.challenge, i);
      [...this.ui.steps.children].forEach((li, k) => li.classList.toggle("now", k === i));
      document.body.dataset.face = `step-${i}`;
    }
    this.ui.bar.value = share;
  }

  /** The middle square of the camera picture as a base64 JPEG within ``limit`` bytes. */
  async capture(canvas, limit) {
    const video = this.ui.video;
    const side = Math.min(video.videoWidth, video.videoHeight) || canvas.width;
    const x = Math.max(0, (video.videoWidth - side) / 2);
    const y = Math.max(0, (video.videoHeight - side) / 2);
    canvas.getContext("2d").drawImage(video, x, y, side, side, 0, 0, canvas.width, canvas.height);
    let blob = null;
    for (const quality of QUALITIES) {
      blob = await jpeg(canvas, quality);
      if (blob && (!limit || blob.size <= limit)) break;
    }
    return base64(blob);
  }

  stop() {
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
    this.current = undefined;
    if (this.ui) this.ui.video.srcObject = null;
    delete document.body.dataset.face;
  }

  disconnectedCallback() {
    this.stop();
  }
}

customElements.define("face-challenge", FaceChallenge);
