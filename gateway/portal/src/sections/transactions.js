// Transactions: the purchases recorded from tills, POS clients and apps (store, amount, items,
// receipt, the redemption it used, points earned), and recording one at the till.
import { ApiError, api, idempotencyKey } from "../core/api.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime, money, toMinor } from "../core/format.js";
import { card, field, filters, form, page, pagedTable } from "../core/ui.js";

const itemsText = (items) => (items || []).map((i) => `${i.quantity ?? 1} × ${i.name || i.sku || "item"}`).join(", ") || "—";

export default async function transactions({ user, query, navigate }) {
  const current = Object.fromEntries(query.entries());
  const stores = await context.stores();
  const names = Object.fromEntries(stores.map((s) => [s.id, s.name]));
  const currency = context.currency();
  const storeName = (id) => names[id] || (id && id === user.store_id ? "Your store" : "—");
  const list = pagedTable([
    { title: "When", cell: (p) => dateTime(p.created_at) },
    { title: "Receipt", cell: (p) => p.receipt_id },
    { title: "Store", cell: (p) => storeName(p.store_id) },
    { title: "Customer", cell: (p) => p.customer_id ? (user.role === "store_user" || user.role === "finance" ? "Member" : h("a", { href: "/portal/customers/" + p.customer_id, "data-link": "" }, "Member")) : "—" },
    { title: "Items", cell: (p) => itemsText(p.items) },
    { title: "Redemption", cell: (p) => p.redemption_reference || "—" },
    { title: "Points", cell: (p) => String(p.points_earned ?? "—"), class: "num" },
    { title: "Amount", cell: (p) => money(p.amount, p.currency), class: "num" },
  ], (cursor) => api.get("/purchases", context.scope({ ...current, cursor, limit: 50 })), { caption: "Purchases", emptyText: "No purchases match.", missing: "Purchases" });

  const canRecord = ["owner", "store_user", "admin"].includes(user.role);
  const record = canRecord ? card("Record a purchase", form([
    h("div", { class: "row" }, field("receipt_id", "Receipt number", { required: true, maxlength: 64 }), field("amount", `Amount (${currency})`, { required: true, inputmode: "decimal" })),
    h("div", { class: "row" }, field("customer_id", "Customer id (optional)", { maxlength: 64, hint: "From the member's card or app." }),
      stores.length ? field("store_id", "Store", { kind: "select", options: stores.map((s) => [s.id, s.name]) }) : null),
    field("items", "Items (optional)", { kind: "textarea", rows: 2, hint: "One per line: quantity × name, line total; e.g. 2 × Coffee, 50.00" }),
  ], "Record purchase", (v) => {
    const items = [];
    for (const line of (v.items || "").split("\n").map((l) => l.trim()).filter(Boolean)) {
      const m = line.match(/^(?:(\d+)\s*[x×*]\s*)?(.+?)\s*,\s*([\d.,\s]+)$/i);
      const amount = m ? toMinor(m[3], currency) : null;
      if (!m || amount === null) {
        throw new ApiError(422, { code: "validation_failed", message: "Each item line needs a name and its line total.", fields: { items: [`“${line}”: write it as 2 × Coffee, 50.00`] } });
      }
      items.push({ name: m[2].trim(), quantity: Number(m[1] || 1), amount });
    }
    const body = { receipt_id: v.receipt_id, amount: toMinor(v.amount, currency) ?? v.amount, currency, items };
    if (v.customer_id) body.customer_id = v.customer_id;
    if (v.store_id) body.store_id = v.store_id;
    return api.post("/purchases", body, { query: context.scope(), headers: { "Idempotency-Key": idempotencyKey() } });
  }, { onDone: () => navigate("/portal/transactions", { replaceState: true }) })) : null;

  return page("Transactions", user.role === "store_user" ? "Your store's purchases." : "Purchases across the merchant's stores, with the points they earned.",
    card("Purchases",
      filters([
        stores.length ? field("store_id", "Store", { kind: "select", value: current.store_id || "", options: [["", "Any"], ...stores.map((s) => [s.id, s.name])] }) : null,
        user.role !== "store_user" ? field("customer_id", "Customer id", { value: current.customer_id || "" }) : null,
      ], (v) => navigate("/portal/transactions?" + new URLSearchParams(v))),
      list),
    record);
}
