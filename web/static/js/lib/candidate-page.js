// What the candidate's exam pages share: times (by the server's clock: lib/clock.js) and
// sizes in words, the top bar, and where a refusal sends the candidate (its words:
// lib/errors.js).

import { ApiError, logOut, loginUrl } from "./api.js";
import { shortTime as formatShortTime } from "./format.js";
import { $ } from "./dom.js";
import { lang, setLang, t, translatePage } from "./i18n.js";

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
