// What a refusal from the server means, in the page's language. One function for every
// page; each kind of page has its own words for it (a table of catalogue keys):
//
//   exam     the candidate's exam pages (exams, exam, question, pair): "exam.err.<code>"
//            where the catalogue has one, what to do when a step is missing
//   console  the staff pages (console, reviews, proctor): "console.err.*", a few codes named
//   journey  the admission journey: a network problem or the server's own message ("err.*")
//
//   notice.textContent = errorText(err, "console");

import { ApiError } from "./api.js";
import { has, t } from "./i18n.js";

const WORDS = {
  exam: {
    unexpected: "exam.err.unexpected", prefix: "exam.err.", fallback: "exam.err.refused",
    steps: true, seconds: "",
  },
  console: {
    unexpected: "console.err.unexpected",
    codes: {
      network: "console.err.network",
      unauthenticated: "console.err.session",
      forbidden: "console.err.forbidden",
      not_found: "console.err.notFound",
      rate_limited: "console.err.wait",
      too_large: "console.err.tooLarge",
    },
    fallback: "console.err.server",
    seconds: 1,
  },
  journey: { unexpected: "err.network", codes: { network: "err.network" }, fallback: "err.server" },
};

/** ``err`` (an ApiError, or anything a page threw) in the words of ``kind`` of page. */
export function errorText(err, kind) {
  const words = WORDS[kind];
  if (!(err instanceof ApiError)) {
    console.warn(err);
    return t(words.unexpected, { message: String(err?.message || err) });
  }
  const details = err.details || {};
  if (words.steps && err.code === "step_required") {
    if (details.reason === "removed_from_admitted_list") {
      return t("exam.err.removed_from_list", { unit: details.unit_id });
    }
    const step = details.step;
    return t("exam.err.step_required", {
      step: has(`journey.${step}`) ? t(`journey.${step}`) : err.message,
    });
  }
  const own = words.prefix && has(words.prefix + err.code) ? words.prefix + err.code : null;
  const key = words.codes?.[err.code] ?? own ?? words.fallback;
  return t(key, { message: err.message, seconds: details.retry_after || words.seconds });
}
