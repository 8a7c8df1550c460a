// The admin JSON API, with the admin key from this tab's sessionStorage as the bearer.

const STORAGE = "relaygate.adminKey";

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(STORAGE); },
  set key(value) {
    if (value) sessionStorage.setItem(STORAGE, value);
    else sessionStorage.removeItem(STORAGE);
  },
  onExpired: () => {},
};

/** A query string from the filled-in fields only. */
export function query(params) {
  const pairs = Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined);
  return pairs.length ? "?" + new URLSearchParams(pairs).toString() : "";
}

async function request(method, path, body, key = session.key) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(0, "The gateway cannot be reached.", "network");
  }
  const payload = await response.json().catch(() => null);
  if (response.ok) return payload;
  const error = payload?.error || {};
  throw new ApiError(response.status, error.message || `The gateway answered ${response.status}.`, error.code);
}

/** Every call but sign-in: a 401 means the key stopped being accepted, so the session ends. */
async function call(method, path, body) {
  try {
    return await request(method, path, body);
  } catch (error) {
    if (error.status === 401) session.onExpired("The admin key is no longer accepted. Sign in again.");
    throw error;
  }
}

/** Checks a candidate admin key with a cheap read; throws ApiError when it is refused. */
export async function signIn(key) {
  await request("GET", "/admin/providers", null, key);
  session.key = key;
}

const enc = encodeURIComponent;

export const api = {
  keys: () => call("GET", "/admin/keys"),
  createKey: (body) => call("POST", "/admin/keys", body),
  updateKey: (name, body) => call("PATCH", `/admin/keys/${enc(name)}`, body),
  revokeKey: (name) => call("DELETE", `/admin/keys/${enc(name)}`),
  rotateKey: (name) => call("POST", `/admin/keys/${enc(name)}/rotate`),
  usage: (params) => call("GET", "/admin/usage" + query(params)),
  requests: (params) => call("GET", "/admin/requests" + query(params)),
  providers: () => call("GET", "/admin/providers"),
};
