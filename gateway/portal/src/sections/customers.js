// Customers (members): find by phone, email or member id, add; a customer's page with their
// purchases, points (balance, expiring, ledger), vouchers and tickets, a chat with them, and a manual
// points adjustment by owners (a reason and a once-only reference; credits within the daily limit).
import { api } from "../core/api.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime, label, money } from "../core/format.js";
import { async, badge, card, dl, empty, field, filters, form, optional, page, pagedTable, table } from "../core/ui.js";

const points = (c) => c.points ? `${c.points.available ?? c.points.balance ?? 0} available` + (c.points.reserved ? `, ${c.points.reserved} reserved` : "") : "—";

async function one({ user, path, navigate }) {
  const c = await api.get("/customers/" + path[0], context.scope());
  const parts = [h("p", {}, h("a", { href: "/portal/customers", "data-link": "" }, "← Customers")),
    card(c.name, dl([c.member_id ? ["Member id", c.member_id] : null, ["Email", c.email || "—"], c.phone ? ["Phone", c.phone] : null,
      ["Your reference", c.external_ref || "—"], c.tier ? ["Tier", label(c.tier)] : null,
      c.tags?.length ? ["Tags", c.tags.join(", ")] : null, c.email_consent !== undefined ? ["Email consent", c.email_consent ? "Yes" : "No"] : null,
      c.visits !== undefined ? ["Visits", `${c.visits}${c.total_spend !== undefined ? ", " + money(c.total_spend, context.currency()) + " spent" : ""}`] : null,
      c.last_purchase_at ? ["Last purchase", dateTime(c.last_purchase_at)] : null,
      ["Points", points(c)], ["Since", dateTime(c.created_at)]])),
    card("Purchases", pagedTable([
      { title: "When", cell: (p) => dateTime(p.created_at) }, { title: "Receipt", cell: (p) => p.receipt_id },
      { title: "Points", cell: (p) => String(p.points_earned ?? "—"), class: "num" }, { title: "Amount", cell: (p) => money(p.amount, p.currency), class: "num" },
    ], (cursor) => api.get(`/customers/${c.id}/purchases`, context.scope({ cursor, limit: 20 })), { caption: "Purchases", emptyText: "No purchases yet.", missing: "Purchases" })),
    card("Points", optional("Points history", async () => {
      const p = await api.get(`/customers/${c.id}/points`, context.scope({ limit: 20 }));
      return h("div", {}, dl([["Balance", String(p.balance)], ["Reserved", String(p.reserved)], ["Available", String(p.available)],
        p.expiring?.length ? ["Expiring", p.expiring.map((x) => `${x.points} on ${dateTime(x.expires_at)}`).join("; ")] : null]),
      p.items?.length ? table([{ title: "When", cell: (x) => dateTime(x.at || x.created_at) }, { title: "What", cell: (x) => label(x.kind || x.reason || "—") },
        { title: "Reference", cell: (x) => x.reference || "—" }, { title: "Points", cell: (x) => String(x.points), class: "num" }], p.items, "Points ledger") : empty("No points yet."));
    })),
    c.vouchers ? card("Vouchers", c.vouchers.length ? table([
      { title: "Code", cell: (v) => v.code || v.masked_code || "—" }, { title: "Value", cell: (v) => money(v.balance ?? v.value, v.currency), class: "num" },
      { title: "Status", cell: (v) => badge(v.status) }, { title: "Expires", cell: (v) => dateTime(v.expires_at) },
    ], c.vouchers, "Vouchers") : empty("No vouchers.")) : null,
    c.tickets ? card("Tickets", c.tickets.length ? table([
      { title: "Record", cell: (t) => h("a", { href: "/portal/support/" + encodeURIComponent(t.reference), "data-link": "" }, t.reference) },
      { title: "Subject", cell: (t) => t.subject }, { title: "Status", cell: (t) => badge(t.status) },
    ], c.tickets, "Tickets") : empty("No tickets.")) : null];
  if (["owner", "support_agent", "admin"].includes(user.role)) {
    parts.push(card("Chat with this customer", h("p", { class: "hint" }, "Opens a conversation in the chat inbox; a customer who is offline is emailed."),
      form([field("body", "Message", { kind: "textarea", required: true, maxlength: 5000 })], "Start conversation",
        (v) => api.post("/support/conversations", { customer_id: c.id, body: v.body }, { query: context.scope() }),
        { onDone: (conv) => navigate("/portal/support/chat/" + conv.id) })));
  }
  if (["owner", "admin"].includes(user.role)) {
    parts.push(card("Adjust points", form([
      h("div", { class: "row" }, field("points", "Points (negative to take off)", { required: true, inputmode: "numeric" }), field("reference", "Reference (used once)", { required: true, maxlength: 120 })),
      field("reason", "Why", { required: true, maxlength: 500 }),
    ], "Adjust points", (v) => api.post(`/customers/${c.id}/points`, { points: Number(v.points), reason: v.reason, reference: v.reference }, { query: context.scope() }),
    { onDone: () => navigate(location.pathname, { replaceState: true }) })));
  }
  return h("div", {}, parts);
}

function list({ user, query, navigate }) {
  const current = Object.fromEntries(query.entries());
  const parts = [card("Members", filters([
    field("phone", "Phone", { kind: "tel", value: current.phone || "" }), field("email", "Email", { value: current.email || "" }),
    field("member_id", "Member id", { value: current.member_id || "" })],
  (v) => navigate("/portal/customers?" + new URLSearchParams(v))), pagedTable([
    { title: "Name", cell: (c) => h("a", { href: "/portal/customers/" + c.id, "data-link": "" }, c.name) },
    { title: "Email", cell: (c) => c.email || "—" }, { title: "Points", cell: points }, { title: "Since", cell: (c) => dateTime(c.created_at) },
  ], (cursor) => api.get("/customers", context.scope({ ...current, cursor, limit: 50 })), { caption: "Customers", emptyText: "No customers yet." }))];
  if (["owner", "admin"].includes(user.role)) {
    parts.push(card("Add a customer", form([
      field("name", "Name", { required: true, maxlength: 120 }), field("email", "Email (optional)", { kind: "email" }), field("external_ref", "Your reference (optional)", { maxlength: 120 }),
    ], "Add customer", (v) => api.post("/customers", context.scope(Object.fromEntries(Object.entries(v).filter(([, x]) => x)))),
    { onDone: (c) => navigate("/portal/customers/" + c.id) })));
  }
  return page("Customers", "Members and their points.", parts);
}

export default function customers(ctx) {
  return ctx.path.length ? page("Customer", null, async(() => one(ctx))) : list(ctx);
}
