// What the exam pages share: the server's clock, times and sizes in words, the
// top bar, and what a refusal from the server means for the candidate.
//
// Timers belong to the server: every page of the API carries the server's
// ``now``; a deadline (an absolute server time) is shown as ``deadline - now``
// counted from the moment the page arrived, whatever this device's clock says.

import { ApiError, logOut, loginUrl } from "./api.js";
import { shortTime as formatShortTime } from "./format.js";
import { has, lang, setLang, t, translatePage } from "./i18n.js";

export const $ = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

/** The server's clock, as of the last API answer that carried its ``now``. */
export class ServerClock {
  constructor() {
    this.base = null;
    this.at = 0;
  }

  sync(now) {
    if (typeof now !== "number") return;
    this.base = now;
    this.at = performance.now();
  }

  now() {
    if (this.base === null) return Date.now() / 1000;
    return this.base + (performance.now() - this.at) / 1000;
  }

  /** Seconds left until the server time ``when`` (negative once passed). */
  left(when) {
    return when - this.now();
  }
}

// Lengths of time and dates: one module for every page (format.js).
export { clock, date, dateTime, duration, remaining } from "./format.js";

/** A server time: the time of day when it is today (by the server's clock), else the date too. */
export function shortTime(ts, serverClock) {
  return formatShortTime(ts, serverClock.now());
}

export function bytes(n) {
  const trim = (x) => String(Number(x.toFixed(x < 10 ? 1 : 0)));
  if (n >= 1024 * 1024) return `${trim(n / (1024 * 1024))} MB`;
  if (n >= 1024) return `${trim(n / 1024)} KB`;
  return `${n} B`;
}

/** "a、b、c" or "a, b, c". */
export function list(items) {
  return items.join(lang() === "zh" ? "、" : ", ");
}

/**
 * Leave for the page that comes first, if the refusal says so: the login page
 * (the session ended) or the exam list's verification (for ``examId``).
 * True when the page is on its way out.
 */
export function leaveIfGated(err, examId = null) {
  if (!(err instanceof ApiError)) return false;
  if (err.status === 401) {
    location.replace(loginUrl(true));
    return true;
  }
  if (err.code === "verification_required" && examId) {
    location.replace(`/exams?verify=${encodeURIComponent(examId)}`);
    return true;
  }
  return false;
}

/** A refusal in the candidate's words; the server's own message where it knows best. */
export function errorText(err) {
  if (!(err instanceof ApiError)) {
    console.warn(err);
    return t("exam.err.unexpected", { message: String(err?.message || err) });
  }
  const details = err.details || {};
  if (err.code === "step_required" && details.reason === "removed_from_admitted_list") {
    return t("exam.err.removed_from_list", { unit: details.unit_id });
  }
  if (err.code === "step_required") {
    const step = details.step;
    return t("exam.err.step_required", {
      step: has(`journey.${step}`) ? t(`journey.${step}`) : err.message,
    });
  }
  const key = `exam.err.${err.code}`;
  const params = { message: err.message, seconds: details.retry_after ?? "" };
  return has(key) ? t(key, params) : t("exam.err.refused", params);
}

/** The top bar's language switch, and the page's words in the chosen language. */
export function setUpPage(onSwitch) {
  translatePage();
  $("lang-toggle").addEventListener("click", () => {
    setLang(lang() === "zh" ? "en" : "zh");
    onSwitch();
  });
}

/** The "logged in as" line at the foot of a page, with its log-out link. */
export function showAccount(account) {
  const line = $("account");
  if (!line || !account) return;
  line.hidden = false;
  $("account-name").textContent = t("exam.account", { name: account.name });
  if (line.dataset.wired) return;
  line.dataset.wired = "true";
  $("log-out").addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      await logOut();
    } catch {
      // gone already, or offline: the login page says what to do next
    }
    location.replace(loginUrl(false));
  });
}

/** Keep the screen on (where the browser allows it); returns a release function. */
export async function holdScreen() {
  if (!("wakeLock" in navigator)) return () => {};
  try {
    const lock = await navigator.wakeLock.request("screen");
    return () => lock.release().catch(() => {});
  } catch {
    return () => {}; // refused (battery saver, hidden page): nothing to release
  }
}
