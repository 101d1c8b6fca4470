// Who is signed in. The access token lives in this module's memory only (never Web Storage);
// the refresh token lives in an HttpOnly cookie the gateway sets in cookie mode, which this
// page can send (with the CSRF header) but never read. Refreshes run a minute before expiry,
// one at a time across tabs (Web Locks), since a refresh token used twice ends every session.
import { ApiError, api, configureApi } from "./api.js";

const CSRF = { "X-VowRewards-Portal": "1" };
const listeners = new Set();
let state = null; // {token, user, expiresAt}
let timer = null;
let refreshing = null;

export const PLATFORM_ROLES = ["admin", "platform_finance", "platform_support", "it_support"];

export function currentUser() { return state?.user || null; }
export function onSessionChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }

function set(tokens) {
  clearTimeout(timer);
  state = tokens ? { token: tokens.access_token, user: tokens.user, expiresAt: Date.now() + tokens.expires_in * 1000 } : null;
  if (state) {
    const lead = Math.min(60, tokens.expires_in / 5) * 1000;
    timer = setTimeout(() => refresh().catch(() => {}), Math.max(5000, tokens.expires_in * 1000 - lead));
  }
  listeners.forEach((fn) => fn(state?.user || null));
}

async function exchange() {
  try {
    set(await api.post("/auth/refresh", {}, { anonymous: true, headers: CSRF }));
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { set(null); return false; }
    throw e;
  }
}

export function refresh() {
  if (!refreshing) {
    const run = () => exchange();
    refreshing = (navigator.locks ? navigator.locks.request("vowrewards-refresh", run) : run())
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

configureApi({ token: () => state?.token, refresh: () => refresh().catch(() => false) });

export async function signIn(username, password) {
  set(await api.post("/auth/token", { username, password, session_cookie: true }, { anonymous: true }));
  return state.user;
}

// after a reload: the cookie, if any, brings the session back
export async function resume() {
  try { return (await refresh()) ? state.user : null; } catch (e) { return null; }
}

export async function signOut() {
  try { await api.post("/auth/logout", {}, { anonymous: true, headers: CSRF }); } catch (e) { /* signed out here anyway */ }
  set(null);
}

export function isPlatform(user = currentUser()) { return !!user && PLATFORM_ROLES.includes(user.role); }
export function hasRole(...roles) { const u = currentUser(); return !!u && roles.includes(u.role); }
