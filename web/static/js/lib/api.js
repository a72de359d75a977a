// The server's JSON API from a page: the one call helper (every request a page makes
// goes through it, but tus.js's uploads and upload.js's with progress), the error it
// throws, and the way to the login page and back.
//
//   const me = await api("GET", "/api/me");           // throws ApiError
//   } catch (err) { if (err.status === 401) location.replace(loginUrl()); }
//   await api("POST", path, file);                     // a File/Blob/FormData: sent as is
//   await api("PUT", path, csvText, "text/csv");       // a raw body of a given type
//
// A GET that does not reach the server (the laptop changed Wi-Fi, the phone went from
// Wi-Fi to mobile data: Chromium's ERR_NETWORK_CHANGED) is sent again after
// ``GET_RETRY_MS``; only then is it a ``network`` error. Other methods are not: the
// server may have done what was asked before the connection went.

export const LOGIN_PATH = "/login";
export const ROUTE_PARAM = "c";

let route = null; // the candidate whose node this page's calls go to (routeCalls)

/**
 * From now on, every call of this page (api(), upload.js, tus.js) carries
 * ``c=<candidateId>``: the load balancer sends it to the candidate's node, where their
 * cameras, their takes and their uploads' bytes are (decision 0026). The candidate's own
 * pages (question page, device check, phone) call it once they know the account id.
 */
export function routeCalls(candidateId) {
  route = candidateId ? String(candidateId) : null;
}

/** ``path`` with the page's ``c=`` (unless it has one, or is not on this site). */
export function routed(path) {
  if (!route) return path;
  let url;
  try {
    url = new URL(path, location.href);
  } catch {
    return path;
  }
  if (url.origin !== location.origin || url.searchParams.has(ROUTE_PARAM)) return path;
  url.searchParams.set(ROUTE_PARAM, route);
  return url.pathname + url.search + url.hash;
}
export const DEFAULT_NEXT = "/journey";

/** The waits before a GET that did not reach the server is sent again. */
export const GET_RETRY_MS = Object.freeze([250, 1000, 2000]);

/** A refused request: ``{"error": {"code", "message", "details"}}``, or ``network``. */
export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status; // 0 when the server could not be reached
    this.code = code;
    this.details = details || {};
  }
}

/**
 * Call ``method path``; resolves with the JSON answer (null if none). ``body`` is sent as
 * JSON, or as it is when ``type`` names its Content-Type or it is a File, Blob or FormData
 * (the browser then says its type).
 */
export async function api(method, path, body = undefined, type = undefined) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (type !== undefined) {
    options.headers["Content-Type"] = type;
    options.body = body;
  } else if (body instanceof Blob || body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await send(routed(path), options);
  const text = await response.text().catch(() => "");
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null; // not JSON (a proxy's error page)
  }
  if (response.ok) return data;
  const error = data?.error || {};
  throw new ApiError(
    response.status,
    error.code || `http_${response.status}`,
    error.message || response.statusText || `HTTP ${response.status}`,
    error.details,
  );
}

// fetch() rejects only when no answer came: the network, not the server.
async function send(url, options) {
  const waits = options.method === "GET" ? GET_RETRY_MS : [];
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await fetch(url, options);
    } catch (err) {
      if (attempt >= waits.length) throw new ApiError(0, "network", String(err));
      await new Promise((resolve) => { setTimeout(resolve, waits[attempt]); });
    }
  }
}

/** ``raw`` if it is a path on this site (not the login page), else the journey. */
export function safeNext(raw) {
  if (!raw || !raw.startsWith("/") || raw.startsWith("//") || raw.startsWith("/\\")) {
    return DEFAULT_NEXT;
  }
  let url;
  try {
    url = new URL(raw, location.origin);
  } catch {
    return DEFAULT_NEXT;
  }
  if (url.origin !== location.origin || url.pathname === LOGIN_PATH) return DEFAULT_NEXT;
  return url.pathname + url.search + url.hash;
}

/** The login page, coming back to this page afterwards; ``ended``: the session ended. */
export function loginUrl(ended = false) {
  const next = encodeURIComponent(location.pathname + location.search);
  return `${LOGIN_PATH}?next=${next}${ended ? "&ended=1" : ""}`;
}

/** End the session on the server; the answer also clears the cookie. */
export function logOut() {
  return api("DELETE", "/api/session");
}
