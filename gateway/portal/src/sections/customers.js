// Customers (members): list, add, and a manual points adjustment by owners (a reason and a
// once-only reference; credits within the merchant's daily limit).
import { api } from "../core/api.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime, label, money } from "../core/format.js";
import { async, badge, card, dl, field, filters, form, page, pagedTable } from "../core/ui.js";

const points = (c) => c.points ? `${c.points.available ?? c.points.balance ?? 0} available` + (c.points.reserved ? `, ${c.points.reserved} reserved` : "") : "—";

async function one({ user, path, navigate }) {
  const c = await api.get("/customers/" + path[0], context.scope());
  const parts = [h("p", {}, h("a", { href: "/portal/customers", "data-link": "" }, "← Customers")),
    card(c.name, dl([["Email", c.email || "—"], c.phone ? ["Phone", c.phone] : null, ["Your reference", c.external_ref || "—"], c.tier ? ["Tier", label(c.tier)] : null,
      c.tags?.length ? ["Tags", c.tags.join(", ")] : null, c.email_consent !== undefined ? ["Email consent", c.email_consent ? "Yes" : "No"] : null,
      ["Points", points(c)], ["Since", dateTime(c.created_at)]])),
    card("Purchases", pagedTable([
      { title: "When", cell: (p) => dateTime(p.occurred_at || p.created_at) }, { title: "Receipt", cell: (p) => p.receipt_id },
      { title: "Points", cell: (p) => String(p.points_earned ?? "—"), class: "num" }, { title: "Amount", cell: (p) => money(p.amount, p.currency), class: "num" },
    ], (cursor) => api.get(`/customers/${c.id}/purchases`, context.scope({ cursor, limit: 20 })), { caption: "Purchases", emptyText: "No purchases yet.", missing: "Purchases" })),
    card("Vouchers", pagedTable([
      { title: "Code", cell: (v) => v.code }, { title: "Value", cell: (v) => money(v.value ?? v.balance, v.currency), class: "num" },
      { title: "Status", cell: (v) => badge(v.status) }, { title: "Expires", cell: (v) => dateTime(v.expires_at) },
    ], (cursor) => api.get("/vouchers", context.scope({ customer_id: c.id, cursor, limit: 20 })), { caption: "Vouchers", emptyText: "No vouchers.", missing: "Vouchers" })),
    ["owner", "support_agent", "admin"].includes(user.role) ? card("Tickets", pagedTable([
      { title: "Record", cell: (t) => h("a", { href: "/portal/support/" + encodeURIComponent(t.reference), "data-link": "" }, t.reference) },
      { title: "Subject", cell: (t) => t.subject }, { title: "Status", cell: (t) => badge(t.status) },
    ], (cursor) => api.get("/support/tickets", context.scope({ customer_id: c.id, cursor, limit: 20 })), { caption: "Tickets", emptyText: "No tickets.", missing: "Tickets" })) : null];
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
  const parts = [card("Members", filters([field("q", "Find by name, phone, email or member id", { value: current.q || "" })],
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
