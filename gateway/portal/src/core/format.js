// Money is integer minor units with a currency; times are ISO 8601 UTC shown in the viewer's zone.
const digitsCache = {};
function digits(currency) {
  if (!(currency in digitsCache)) {
    try { digitsCache[currency] = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits; }
    catch (e) { digitsCache[currency] = 2; }
  }
  return digitsCache[currency];
}

export function money(minor, currency) {
  if (minor === null || minor === undefined) return "—";
  if (!currency) return String(minor);
  const d = digits(currency);
  try { return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 10 ** d); }
  catch (e) { return `${currency} ${(minor / 10 ** d).toFixed(d)}`; }
}

// "50.00" in the currency -> 5000 minor units (null when it is not a number)
export function toMinor(text, currency) {
  const clean = String(text ?? "").trim().replace(/[\s,]/g, "");
  if (!/^\d+(\.\d+)?$/.test(clean)) return null;
  const d = digits(currency || "ZAR");
  const [whole, frac = ""] = clean.split(".");
  if (frac.length > d) return null;
  return Number(whole) * 10 ** d + Number((frac + "0".repeat(d)).slice(0, d) || 0);
}

export function dateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function day(iso) {
  if (!iso) return "—";
  const d = new Date(iso.length === 10 ? iso + "T00:00:00Z" : iso);
  return isNaN(d) ? iso : d.toLocaleDateString(undefined, { day: "numeric", month: "short", timeZone: iso.length === 10 ? "UTC" : undefined });
}

export const label = (text) => String(text ?? "").replace(/_/g, " ").replace(/^\w/, (c) => c.toUpperCase());
export const who = (actor) => actor ? (actor.username || actor.user_id || "—") + (actor.role ? ` (${label(actor.role)})` : "") : "—";
export const percent = (bp) => bp === null || bp === undefined ? "—" : `${(bp / 100).toLocaleString()}%`;
export const shortId = (id) => id ? String(id).slice(0, 8) : "—";
