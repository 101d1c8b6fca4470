// Analytics per campaign (and per store): issued, redeemed, redemption rate, discount cost, what
// redeemers bought, and whether redeemers come back more often than the others; daily series as charts.
import { api } from "../core/api.js";
import { barChart } from "../core/chart.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { day, money } from "../core/format.js";
import { card, dl, empty, field, filters, kpi, optional, page, table } from "../core/ui.js";

const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);
const dayLabel = (d) => String(Number(d.slice(8, 10)));

function repeatChart(repeat, title) {
  return barChart([{ label: "Redeemers", value: Math.round((repeat?.redeemers ?? 0) * 1000) / 10 },
    { label: "Non-redeemers", value: Math.round((repeat?.non_redeemers ?? 0) * 1000) / 10 }],
  { title, format: (v) => v + "%", height: 140 });
}

// the campaign's analytics answer: figures, repeat purchases of redeemers against the others, per day, per store
export async function analyticsView(a, currency) {
  const m = (v) => money(v, a.currency || currency);
  const group = (g) => g ? `${g.customers} customers, ${g.purchases} purchases, ${m(g.revenue)}` : "—";
  const names = {};
  for (const s of a.stores || []) names[s.store_id] = await context.storeName(s.store_id);
  const daily = a.daily || [];
  return h("div", {},
    h("div", { class: "kpis" },
      kpi("Vouchers issued", String(a.issued ?? 0)), kpi("Redeemed", String(a.redeemed ?? 0), `${pct(a.redemption_rate)} of those issued`),
      kpi("Discount cost", m(a.discount_cost), a.budget ? `${pct(a.budget_used)} of ${m(a.budget)}` : "no budget"),
      kpi("Redeemers' revenue", m(a.redeemers?.revenue), `${a.redeemers?.purchases ?? 0} purchases`),
      kpi("Repeat purchase", pct(a.repeat_purchase_rate?.redeemers), `redeemers; others ${pct(a.repeat_purchase_rate?.non_redeemers)}`)),
    card("Repeat purchases: redeemers against the others", repeatChart(a.repeat_purchase_rate, "Customers who bought twice or more (%)"),
      dl([["Redeemers", group(a.redeemers)], ["Non-redeemers", group(a.non_redeemers)]])),
    daily.length ? card("Per day",
      barChart(daily.map((d) => ({ label: dayLabel(d.day), title: day(d.day), value: d.discount_cost })), { title: "Discount cost per day", format: m }),
      barChart(daily.map((d) => ({ label: dayLabel(d.day), title: day(d.day), value: d.revenue })), { title: "Revenue per day", format: m })) : null,
    !a.stores ? null : a.stores.length ? card("Per store", table([
      { title: "Store", cell: (s) => names[s.store_id] },
      { title: "Redeemed", cell: (s) => String(s.redeemed), class: "num" },
      { title: "Discount cost", cell: (s) => m(s.discount_cost), class: "num" },
      { title: "Purchases", cell: (s) => String(s.purchases), class: "num" },
      { title: "Revenue", cell: (s) => m(s.revenue), class: "num" },
      { title: "Repeat: redeemers / others", cell: (s) => `${pct(s.repeat_purchase_rate?.redeemers)} / ${pct(s.repeat_purchase_rate?.non_redeemers)}`, class: "num" },
    ], a.stores, "Analytics per store")) : empty("No store has redeemed or sold under this campaign yet."));
}

export default async function analytics({ query, navigate }) {
  const current = Object.fromEntries(query.entries());
  const stores = await context.stores();
  const campaigns = (await api.get("/campaigns", context.scope({ limit: 200 }))).items;
  // "" (the default): every campaign of the merchant, or of the chosen store, over the last 30 days
  const chosen = campaigns.find((c) => c.id === current.campaign_id) || null;
  const storeQuery = current.store_id ? { store_id: current.store_id } : {};
  return page("Analytics", "How campaigns move repeat purchases.",
    filters([
      field("campaign_id", "Campaign", { kind: "select", value: chosen ? chosen.id : "", options: [["", "All campaigns"], ...campaigns.map((c) => [c.id, c.name])] }),
      stores.length ? field("store_id", "Store", { kind: "select", value: current.store_id || "", options: [["", "All stores"], ...stores.map((s) => [s.id, s.name])] }) : null,
    ], (v) => navigate("/portal/analytics?" + new URLSearchParams(v))),
    chosen
      ? card(`${chosen.name}`, optional("Campaign analytics", async () =>
        analyticsView(await api.get(`/campaigns/${chosen.id}/analytics`, context.scope(storeQuery)), chosen.currency)))
      : card(current.store_id ? "All campaigns at this store, last 30 days" : "All campaigns, last 30 days", optional("Analytics", async () =>
        analyticsView(await api.get("/analytics", context.scope(storeQuery))))));
}
