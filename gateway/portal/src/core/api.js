// The one door to the API: JSON in and out, the bearer token, errors as ApiError with the
// API's {code, message, fields}, and one retry after a refresh when a token has expired.
const BASE = "/api/v1";
let hooks = { token: () => null, refresh: async () => false };

export function configureApi(next) { hooks = { ...hooks, ...next }; }

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `The request failed (${status})`);
    this.status = status;
    this.code = error?.code || "http_" + status;
    this.fields = error?.fields || {};
  }
}

export function idempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function url(path, query) {
  const u = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  return u.pathname + u.search;
}

async function send(method, path, opts, retried) {
  const headers = { Accept: "application/json", ...(opts.headers || {}) };
  const token = hooks.token();
  if (token && !opts.anonymous) headers.Authorization = "Bearer " + token;
  let body;
  if (opts.form) body = opts.form; // multipart: the browser sets the boundary
  else if (opts.body !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(opts.body); }
  let response;
  try {
    response = await fetch(url(path, opts.query), { method, headers, body, credentials: "same-origin", cache: "no-store", signal: opts.signal });
  } catch (e) {
    if (e?.name === "AbortError") throw e;
    throw new ApiError(0, { code: "network_error", message: "The portal cannot reach the server: check the connection and try again." });
  }
  if (response.status === 401 && !retried && !opts.anonymous && token) {
    const error = await response.clone().json().catch(() => ({}));
    if (["token_expired", "token_revoked", "token_invalid"].includes(error?.error?.code) && await hooks.refresh()) {
      return send(method, path, opts, true);
    }
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    const error = new ApiError(response.status, data?.error);
    if (response.status === 429 || response.status === 503) error.retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw error;
  }
  if (opts.raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const api = {
  get: (path, query, opts = {}) => send("GET", path, { ...opts, query }),
  post: (path, body, opts = {}) => send("POST", path, { ...opts, body }),
  put: (path, body, opts = {}) => send("PUT", path, { ...opts, body }),
  patch: (path, body, opts = {}) => send("PATCH", path, { ...opts, body }),
  upload: (path, form, opts = {}) => send("POST", path, { ...opts, form }),
  send,
  // an image or file the API serves behind the token, as an object URL (img-src allows blob:)
  async blobUrl(path, query) {
    const response = await send("GET", path, { query, raw: true, headers: { Accept: "*/*" } });
    return URL.createObjectURL(await response.blob());
  },
};
