// Customers (members): list, add, and a manual points adjustment by owners (a reason and a
// once-only reference; credits within the merchant's daily limit).
import { api } from "../core/api.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime } from "../core/format.js";
import { async, card, dl, field, form, page, pagedTable } from "../core/ui.js";

const points = (c) => c.points ? `${c.points.available ?? c.points.balance ?? 0} available` + (c.points.reserved ? `, ${c.points.reserved} reserved` : "") : "—";

async function one({ user, path, navigate }) {
  const c = await api.get("/customers/" + path[0], context.scope());
  const parts = [h("p", {}, h("a", { href: "/portal/customers", "data-link": "" }, "← Customers")),
    card(c.name, dl([["Email", c.email || "—"], ["Your reference", c.external_ref || "—"], ["Points", points(c)], ["Since", dateTime(c.created_at)]]))];
  if (["owner", "admin"].includes(user.role)) {
    parts.push(card("Adjust points", form([
      h("div", { class: "row" }, field("points", "Points (negative to take off)", { required: true, inputmode: "numeric" }), field("reference", "Reference (used once)", { required: true, maxlength: 120 })),
      field("reason", "Why", { required: true, maxlength: 500 }),
    ], "Adjust points", (v) => api.post(`/customers/${c.id}/points`, { points: Number(v.points), reason: v.reason, reference: v.reference }, { query: context.scope() }),
    { onDone: () => navigate(location.pathname, { replaceState: true }) })));
  }
  return h("div", {}, parts);
}

function list({ user, navigate }) {
  const parts = [card("Members", pagedTable([
    { title: "Name", cell: (c) => h("a", { href: "/portal/customers/" + c.id, "data-link": "" }, c.name) },
    { title: "Email", cell: (c) => c.email || "—" }, { title: "Points", cell: points }, { title: "Since", cell: (c) => dateTime(c.created_at) },
  ], (cursor) => api.get("/customers", context.scope({ cursor, limit: 50 })), { caption: "Customers", emptyText: "No customers yet." }))];
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
