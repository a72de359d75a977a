// The QR code's token on the phone (二机位): redeemed once for the pairing of an
// answer, which the tab keeps (sessionStorage) so that a reload resumes the same
// second-camera session instead of needing a new scan; and, when a code cannot be
// used, what the page says about it.

import { ApiError, api, logOut, loginUrl } from "../../lib/api.js";

const STORE_KEY = "examcast.pairing";
// Why a code cannot be used; each has pair.err.<code>.title / .text ("other" otherwise).
const REFUSALS = ["not_found", "pairing_expired", "pairing_used", "pairing_not_yours",
  "forbidden", "deadline_passed", "network", "no_token", "session_gone"];
const WRONG_ACCOUNT = ["pairing_not_yours", "forbidden"];

/**
 * Redeem ``token``: the pairing ({pairing_id, exam_id, question_id, attempt_id,
 * redeemed_at, now}), or null when the page is on its way to the login page (which
 * brings it back here with the token). A refusal throws its ApiError.
 */
export async function redeem(token) {
  let paired;
  try {
    paired = await api("POST", "/api/pairing/redeem", { token });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      location.replace(loginUrl(false));
      return null;
    }
    if (err instanceof ApiError && err.code === "invalid_input") {
      throw new ApiError(404, "not_found", err.message); // not a token we made
    }
    throw err;
  }
  // The token is used up: keep it out of the history; a reload resumes from storage.
  history.replaceState(null, "", "/pair");
  return paired;
}

/** How the page shows a refusal: its text keys and the way out it offers. */
export function refusal(code) {
  const known = REFUSALS.includes(code) ? code : "other";
  return {
    title: `pair.err.${known}.title`,
    text: `pair.err.${known}.text`,
    switchAccount: WRONG_ACCOUNT.includes(known),
    retry: ["network", "other"].includes(known),
  };
}

/** Log out and log in again (with the same account as the first device). */
export async function switchAccount() {
  try {
    await logOut();
  } catch {
    // logged out already, or offline: the login page says what to do
  }
  location.replace(loginUrl(false));
}

export function remember(pairing) {
  try {
    sessionStorage.setItem(STORE_KEY, JSON.stringify(pairing));
  } catch {
    // storage blocked: a reload needs a new scan
  }
}

export function forget() {
  try {
    sessionStorage.removeItem(STORE_KEY);
  } catch {
    // nothing kept
  }
}

/** The pairing this tab redeemed before a reload, or null. */
export function remembered() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
  } catch {
    return null;
  }
}
