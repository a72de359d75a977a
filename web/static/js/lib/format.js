// Lengths of time and dates, one way on every candidate page, in the page's language.
//
//   duration(5400)    "1 小时 30 分钟"       "1 h 30 min"        (a limit, a take's length)
//   remaining(604000) "6 天 23 小时"         "6 d 23 h"          (time left to a deadline)
//   remaining(95)     "01:35"                                    (the last hour ticks)
//   clock(95)         "01:35"  "1:01:35"                         (a running recording)
//   date(ts)          "2026年12月5日"         "5 Dec 2026"
//   dateTime(ts)      "2026年12月5日 14:30"   "5 Dec 2026, 14:30"
//   timeOfDay(ts)     "14:30"

import { lang, t } from "./i18n.js";

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;

/** ``mm:ss`` (or ``h:mm:ss``); ``up`` rounds up, as a countdown should. */
export function clock(seconds, up = true) {
  const total = Math.max(0, up ? Math.ceil(seconds - 0.001) : Math.floor(seconds));
  const h = Math.floor(total / HOUR);
  const mm = String(Math.floor((total % HOUR) / MINUTE)).padStart(2, "0");
  const ss = String(total % MINUTE).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function units(total) {
  return [
    ["exam.unit.d", Math.floor(total / DAY)],
    ["exam.unit.h", Math.floor((total % DAY) / HOUR)],
    ["exam.unit.min", Math.floor((total % HOUR) / MINUTE)],
    ["exam.unit.s", total % MINUTE],
  ];
}

/** A length of time in words, its two largest units: "1 分钟 30 秒", "2 天 3 小时". */
export function duration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const all = units(total);
  const first = all.findIndex(([, n]) => n > 0);
  if (first < 0) return t("exam.unit.s", { n: 0 });
  return all.slice(first, first + 2).filter(([, n]) => n > 0)
    .map(([key, n]) => t(key, { n })).join(" ");
}

/** Time left to a deadline: days and hours, hours and minutes, and the last hour ticking. */
export function remaining(seconds) {
  if (seconds < HOUR) return clock(seconds);
  const total = Math.floor(seconds);
  // Rounded down (never promise more time than there is), to whole minutes.
  return duration(total - (total % MINUTE));
}

function locale() {
  return lang() === "zh" ? "zh-CN" : "en-GB";
}

/** A server time (Unix seconds) as a date on this device's calendar. */
export function date(ts) {
  return new Date(ts * 1000).toLocaleDateString(locale(), {
    year: "numeric", month: lang() === "zh" ? "long" : "short", day: "numeric",
  });
}

/** A server time as the time of day, 24-hour. */
export function timeOfDay(ts) {
  return new Date(ts * 1000).toLocaleTimeString(locale(), {
    hour: "2-digit", minute: "2-digit", hour12: false,
  });
}

/** A server time as a date and a time of day. */
export function dateTime(ts) {
  return lang() === "zh" ? `${date(ts)} ${timeOfDay(ts)}` : `${date(ts)}, ${timeOfDay(ts)}`;
}

/** A server time: the time of day when it is today (by ``serverNow``), else the date too. */
export function shortTime(ts, serverNow) {
  const when = new Date(ts * 1000);
  const today = new Date(serverNow * 1000);
  return when.toDateString() === today.toDateString() ? timeOfDay(ts) : dateTime(ts);
}
