// <device-support>: which devices the exam supports (M5: Android 6+, iOS 11+, a current
// browser), stated before log-in, and whether this browser can record here: a secure
// page (HTTPS or localhost), camera access and WebRTC.
//
//   <device-support data-testid="device-support"></device-support>
//   <script type="module" src="/static/js/components/device-support.js"></script>

import { onLangChange, t } from "../lib/i18n.js";

const MIN = { Android: 6, iOS: 11 };

/** The system and its major version from a user agent, if a phone's or tablet's. */
export function mobileSystem(userAgent) {
  const android = /Android (\d+)/.exec(userAgent);
  if (android) return { name: "Android", version: Number(android[1]) };
  const ios = /(?:iPhone|iPad|iPod).*? OS (\d+)_/.exec(userAgent);
  if (ios) return { name: "iOS", version: Number(ios[1]) };
  return null;
}

/** What this browser can do: {kind: ok|warning|error, key, params}. */
export function checkBrowser(env = {
  userAgent: navigator.userAgent,
  secure: window.isSecureContext,
  camera: Boolean(navigator.mediaDevices?.getUserMedia),
  webrtc: Boolean(window.RTCPeerConnection),
}) {
  const system = mobileSystem(env.userAgent);
  if (system && system.version < MIN[system.name]) {
    return { kind: "error", key: "support.tooOld", params: { ...system, min: MIN[system.name] } };
  }
  if (!env.secure) return { kind: "warning", key: "support.insecure", params: {} };
  if (!env.camera || !env.webrtc) return { kind: "error", key: "support.noRecording", params: {} };
  return { kind: "ok", key: "support.ok", params: {} };
}

class DeviceSupport extends HTMLElement {
  connectedCallback() {
    if (this.rendered) return;
    this.rendered = true;
    this.className = "card device-support";
    const title = document.createElement("h2");
    const devices = document.createElement("p");
    const result = document.createElement("p");
    result.className = "notice";
    result.dataset.testid = "browser-check";
    result.setAttribute("role", "status");
    this.append(title, devices, result);
    const check = checkBrowser();
    this.dataset.result = check.kind;
    const render = () => {
      title.textContent = t("support.title");
      devices.textContent = t("support.devices");
      result.textContent = t(check.key, check.params);
      result.dataset.kind = check.kind;
    };
    render();
    onLangChange(render);
  }
}

customElements.define("device-support", DeviceSupport);
