// The merchant a page acts on: a merchant's own users act on theirs; platform users pick one
// (the API wants `merchant_id` from them). Also the merchant's stores, for those who may list them.
import { api } from "./api.js";
import { currentUser, isPlatform } from "./session.js";

let merchants = null;
let chosen = null;
const storeCache = {};
const listeners = new Set();

export function onMerchantChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }

export async function loadMerchants() {
  merchants = [];
  let cursor = null;
  do {
    const page = await api.get("/merchants", { limit: 200, cursor });
    merchants.push(...page.items);
    cursor = page.next;
  } while (cursor && merchants.length < 1000);
  if (!isPlatform()) chosen = merchants[0] || null;
  else if (chosen) chosen = merchants.find((m) => m.id === chosen.id) || null;
  return merchants;
}

export const allMerchants = () => merchants || [];
export const merchant = () => chosen;
export function chooseMerchant(id) {
  chosen = (merchants || []).find((m) => m.id === id) || null;
  listeners.forEach((fn) => fn(chosen));
}
export function reset() { merchants = null; chosen = null; for (const k in storeCache) delete storeCache[k]; }

// the query a platform user adds to name the merchant; nothing for a merchant's own users
export function scope(extra = {}) {
  return isPlatform() && chosen ? { merchant_id: chosen.id, ...extra } : { ...extra };
}
export const currency = () => chosen?.currency || "ZAR";

// stores of the merchant (owners, finance, agents, admins may list them; a store user knows only its own id)
export async function stores() {
  const m = chosen;
  const user = currentUser();
  if (!m || !user || user.role === "store_user" || user.role === "platform_finance") return [];
  if (!storeCache[m.id]) {
    storeCache[m.id] = api.get(`/merchants/${m.id}/stores`, { limit: 200 }).then((p) => p.items).catch(() => []);
  }
  return storeCache[m.id];
}
export function forgetStores() { for (const k in storeCache) delete storeCache[k]; }
export async function storeName(id) {
  if (!id) return "—";
  const found = (await stores()).find((s) => s.id === id);
  if (found) return found.name;
  return currentUser()?.store_id === id ? "Your store" : "Store " + String(id).slice(0, 8);
}
