// The words of the question page's confirmation dialogs, made in one place from the
// question's settings, so that a test can read every one of them in both languages
// (tests/e2e/test_candidate_pages.py) and see that no sentence or value is missing.

import { duration } from "../../lib/format.js";
import { t } from "../../lib/i18n.js";

/** Entering the formal answer (正式答题): the reading time and the submission limit. */
export function formalText(settings) {
  const limit = settings.submission_limit_s == null ? t("exam.confirm.untilEnd")
    : t("exam.confirm.limit", { d: duration(settings.submission_limit_s) });
  const reading = settings.reading_limit_s == null ? t("exam.confirm.readingByHand")
    : t("exam.confirm.reading", { d: duration(settings.reading_limit_s) });
  return t("exam.confirm.formal", { limit, reading });
}

/** Another formal take, ``left`` recordings still allowed. */
export function recordAgainText(left) {
  return t("exam.confirm.recordAgain", { n: left });
}

/** Stopping a take by hand (it cannot be continued). */
export function stopText() {
  return t("exam.confirm.stop");
}

/** Ending the rehearsal's one playback before its end. */
export function endPlaybackText() {
  return t("exam.confirm.endPlayback");
}

/** Submitting the ``n``-th formal take. */
export function submitTakeText(n) {
  return t("exam.confirm.submit", { n });
}

/** Submitting ``n`` files of an offline question, ``pending`` of them still uploading
 * (to finish by ``until``, a time already in words). */
export function submitFilesText(n, pending, until) {
  return pending ? t("upload.off.confirmSubmit", { n, p: pending, time: until })
    : t("exam.confirm.submitFiles", { n });
}
