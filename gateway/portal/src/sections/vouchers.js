// Vouchers: issue one, list and filter, look one up with its history; issuers (owners, platform
// admins) see the whole code, its signed QR and its barcode (fetched with the token, shown as blob: images).
import { api } from "../core/api.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime, label, money, percent, toMinor, who } from "../core/format.js";
import { async, badge, button, card, dl, errorBox, field, filters, form, page, pagedTable, table } from "../core/ui.js";

const KINDS = [["discount_fixed", "Fixed discount"], ["discount_percent", "Percentage discount"], ["stored_value", "Stored value"]];
const STATUSES = ["active", "partially_redeemed", "redeemed", "expired", "cancelled"];
const issuer = (user) => ["owner", "admin"].includes(user.role);
const voucherLink = (v) => v.code_masked ? (v.display_code || v.code) : h("a", { href: "/portal/vouchers/" + encodeURIComponent(v.code), "data-link": "" }, v.display_code || v.code);
const valueOf = (v) => v.kind === "discount_percent" ? percent(v.percent_bp) + (v.cap ? " up to " + money(v.cap, v.currency) : "") : money(v.value, v.currency);

function image(path, alt) {
  const img = h("img", { alt, class: "code-image" });
  api.blobUrl(path, context.scope()).then((url) => { img.src = url; }).catch(() => { img.alt = alt + " (could not load)"; });
  return img;
}

async function one({ user, path, navigate }) {
  const code = path[0];
  const v = await api.get("/vouchers/" + encodeURIComponent(code), context.scope());
  const parts = [
    h("p", {}, h("a", { href: "/portal/vouchers", "data-link": "" }, "← Vouchers")),
    card(`Voucher ${v.display_code || v.code}`, dl([
      ["Status", badge(v.status)], ["Kind", label(v.kind)], ["Value", valueOf(v)],
      v.balance !== null && v.balance !== undefined ? ["Balance", money(v.balance, v.currency)] : null,
      ["Uses", `${v.uses} of ${v.uses_allowed}`], ["Funding", label(v.funding)], ["PIN", v.has_pin ? "Yes" : "No"],
      ["Valid", `${dateTime(v.valid_from)} – ${v.valid_until ? dateTime(v.valid_until) : "no end"}`], ["Issued", dateTime(v.created_at)],
    ])),
  ];
  if (issuer(user) && !v.code_masked) {
    parts.push(card("Present it", h("div", { class: "codes" },
      h("figure", {}, image(`/vouchers/${encodeURIComponent(v.code)}/qr.png`, `QR code of voucher ${v.display_code}`), h("figcaption", {}, "Signed QR code")),
      h("figure", {}, image(`/vouchers/${encodeURIComponent(v.code)}/barcode.svg`, `Barcode of voucher ${v.display_code}`), h("figcaption", {}, "Code 128 barcode")))));
    if (["active", "partially_redeemed"].includes(v.status)) {
      parts.push(card("Cancel", form([field("reason", "Why", { required: true, maxlength: 500 })], "Cancel voucher",
        (x) => api.post(`/vouchers/${encodeURIComponent(v.code)}/cancellation`, { reason: x.reason }, { query: context.scope() }),
        { onDone: () => navigate(location.pathname, { replaceState: true }) })));
    }
  }
  parts.push(card("History", table([
    { title: "When", cell: (x) => dateTime(x.at) }, { title: "From", cell: (x) => label(x.from_status) },
    { title: "To", cell: (x) => label(x.to_status) }, { title: "By", cell: (x) => who(x.actor) }, { title: "Why", cell: (x) => x.reason || "—" },
  ], v.history || [], "Voucher history")));
  return h("div", {}, parts);
}

function list({ user, query, navigate }) {
  const current = Object.fromEntries(query.entries());
  const lookup = form([field("code", "Voucher code", { required: true, maxlength: 64 })], "Look up",
    async (v) => { await api.get("/vouchers/" + encodeURIComponent(v.code), context.scope()); return v.code; },
    { onDone: (code) => navigate("/portal/vouchers/" + encodeURIComponent(code)), className: "inline-form" });
  const parts = [];
  if (issuer(user)) parts.push(card("Issue a voucher", issueForm(navigate)));
  parts.push(card("Look up", lookup, issuer(user) ? null : h("p", { class: "hint" }, "Codes are shown whole only to those who issue them; you see the last four.")));
  parts.push(card("All vouchers",
    filters([field("status", "Status", { kind: "select", value: current.status || "", options: [["", "Any"], ...STATUSES.map((s) => [s, label(s)])] })],
      (v) => navigate("/portal/vouchers?" + new URLSearchParams(v))),
    pagedTable([
      { title: "Code", cell: voucherLink }, { title: "Kind", cell: (v) => label(v.kind) }, { title: "Value", cell: valueOf },
      { title: "Balance", cell: (v) => v.balance === null || v.balance === undefined ? "—" : money(v.balance, v.currency), class: "num" },
      { title: "Status", cell: (v) => badge(v.status) }, { title: "Valid until", cell: (v) => v.valid_until ? dateTime(v.valid_until) : "No end" },
    ], (cursor) => api.get("/vouchers", context.scope({ ...current, cursor, limit: 50 })), { caption: "Vouchers", emptyText: "No vouchers yet." })));
  return page("Vouchers", "Issue vouchers and follow each one from issue to redemption.", parts);
}

function issueForm(navigate) {
  const currency = context.currency();
  const out = h("div", { "aria-live": "polite" });
  const f = form([
    h("div", { class: "row" },
      field("kind", "Kind", { kind: "select", options: KINDS }),
      field("value", `Value (${currency})`, { inputmode: "decimal", hint: "Fixed discount or stored value." }),
      field("percent_bp", "Percent", { inputmode: "decimal", hint: "Percentage vouchers only." }),
      field("cap", `Cap (${currency})`, { inputmode: "decimal", hint: "Largest discount (percentage)." })),
    h("div", { class: "row" },
      field("valid_until", "Valid until (optional)", { kind: "date" }),
      field("pin", "PIN (optional)", { inputmode: "numeric", maxlength: 8, hint: "4 to 8 digits." }),
      field("uses_allowed", "Uses", { kind: "number", value: "1", min: 1, max: 1000 })),
  ], "Issue voucher", (v) => {
    const body = { kind: v.kind, currency, uses_allowed: Number(v.uses_allowed || 1) };
    if (v.value) body.value = toMinor(v.value, currency) ?? v.value;
    if (v.percent_bp) body.percent_bp = Math.round(Number(v.percent_bp) * 100);
    if (v.cap) body.cap = toMinor(v.cap, currency) ?? v.cap;
    if (v.pin) body.pin = v.pin;
    if (v.valid_until) body.valid_until = new Date(v.valid_until + "T23:59:59Z").toISOString();
    return api.post("/vouchers", context.scope(body));
  }, { onDone: (v) => out.replaceChildren(h("p", { class: "notice" }, "Issued ", h("a", { href: "/portal/vouchers/" + encodeURIComponent(v.code), "data-link": "" }, v.display_code), ".")) });
  return h("div", {}, f, out);
}

export default function vouchers(ctx) {
  return ctx.path.length ? page("Voucher", null, async(() => one(ctx))) : list(ctx);
}
