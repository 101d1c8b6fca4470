// Redemption records: filtered by store, channel, status and period; exported as CSV; reversed
// by owners (and platform admins for a merchant they name), with a reason.
import { api } from "../core/api.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime, label, money, who } from "../core/format.js";
import { announce, async, badge, card, dl, download, errorBox, field, filters, form, page, pagedTable } from "../core/ui.js";

const CHANNELS = ["pos", "kiosk", "web", "in_app", "vending_machine"];

function periodQuery(values) {
  const q = { ...values };
  if (q.since) q.since = new Date(q.since + "T00:00:00Z").toISOString();
  if (q.until) q.until = new Date(q.until + "T23:59:59Z").toISOString();
  return q;
}

async function one({ user, path, navigate }) {
  const r = await api.get("/redemptions/" + encodeURIComponent(path[0]), context.scope());
  const parts = [h("p", {}, h("a", { href: "/portal/redemptions", "data-link": "" }, "← Redemptions")),
    card(`Redemption ${r.reference}`, dl([
      ["Status", badge(r.status)], ["Amount", money(r.amount, r.currency)], r.points ? ["Points", `${r.points} (${money(r.points_value, r.currency)})`] : null,
      ["Voucher", r.voucher_code], ["Store", await context.storeName(r.store_id)], ["Processed by", who(r.processed_by)],
      ["Channel", label(r.channel)], ["Read as", label(r.method)], ["Receipt remarks", r.receipt_remarks || "—"], ["At", dateTime(r.created_at)],
      r.reversed_at ? ["Reversed", `${dateTime(r.reversed_at)} by ${who(r.reversed_by)}: ${r.reversal_reason}`] : null,
    ]))];
  if (["owner", "admin"].includes(user.role) && r.status === "completed") {
    parts.push(card("Reverse", h("p", { class: "hint" }, "Gives the value back to the voucher. Allowed within the reversal window; the record says who did it and why."),
      form([field("reason", "Why", { required: true, maxlength: 500 })], "Reverse redemption",
        (v) => api.post(`/redemptions/${r.id}/reversal`, { reason: v.reason }, { query: context.scope() }),
        { onDone: () => { announce("Redemption reversed"); navigate(location.pathname, { replaceState: true }); } })));
  }
  return h("div", {}, parts);
}

async function list({ user, query, navigate }) {
  const current = Object.fromEntries(query.entries());
  const stores = await context.stores();
  const names = Object.fromEntries(stores.map((s) => [s.id, s.name]));
  const canExport = ["owner", "finance", "store_user", "admin"].includes(user.role);
  const exportOut = h("div", { "aria-live": "polite" });
  const exportButton = canExport ? h("button", { type: "button", class: "secondary", onclick: async () => {
    try {
      const url = await api.blobUrl("/redemptions/export.csv", context.scope(periodQuery(current)));
      download(url, "redemptions.csv");
      announce("Export downloaded");
    } catch (e) { exportOut.replaceChildren(errorBox(e)); }
  } }, "Export CSV") : null;
  return page("Redemptions", user.role === "store_user" ? "Your store's redemption records." : "Every redemption, who processed it and where.",
    card("Records",
      filters([
        stores.length ? field("store_id", "Store", { kind: "select", value: current.store_id || "", options: [["", "Any"], ...stores.map((s) => [s.id, s.name])] }) : null,
        field("channel", "Channel", { kind: "select", value: current.channel || "", options: [["", "Any"], ...CHANNELS.map((c) => [c, label(c)])] }),
        field("status", "Status", { kind: "select", value: current.status || "", options: [["", "Any"], ["completed", "Completed"], ["reversed", "Reversed"]] }),
        field("since", "From", { kind: "date", value: current.since || "" }),
        field("until", "To", { kind: "date", value: current.until || "" }),
      ], (v) => navigate("/portal/redemptions?" + new URLSearchParams(v))),
      h("div", { class: "toolbar" }, exportButton, exportOut),
      pagedTable([
        { title: "Reference", cell: (r) => h("a", { href: "/portal/redemptions/" + r.id, "data-link": "" }, r.reference) },
        { title: "When", cell: (r) => dateTime(r.created_at) },
        { title: "Voucher", cell: (r) => r.voucher_code },
        { title: "Store", cell: (r) => names[r.store_id] || (r.store_id === user.store_id ? "Your store" : "—") },
        { title: "By", cell: (r) => who(r.processed_by) },
        { title: "Channel", cell: (r) => label(r.channel) },
        { title: "Amount", cell: (r) => money(r.amount, r.currency), class: "num" },
        { title: "Status", cell: (r) => badge(r.status) },
      ], (cursor) => api.get("/redemptions", context.scope({ ...periodQuery(current), cursor, limit: 50 })), { caption: "Redemption records", emptyText: "No redemptions match." })));
}

export default function redemptions(ctx) {
  return ctx.path.length ? page("Redemption", null, async(() => one(ctx))) : list(ctx);
}
