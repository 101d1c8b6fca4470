// Analytics per campaign (and per store): issued, redeemed, redemption rate, discount cost, what
// redeemers bought, and whether redeemers come back more often than the others; daily series as charts.
import { api } from "../core/api.js";
import { barChart } from "../core/chart.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { day, label, money } from "../core/format.js";
import { card, empty, field, filters, kpi, optional, page } from "../core/ui.js";

const MONEY = /(cost|revenue|spent|value|amount|budget|committed|remaining)$/;
const rate = (x) => (x === null || x === undefined ? "—" : `${(x <= 1 ? x * 100 : x).toFixed(1)}%`);

function figure(key, value, currency) {
  if (value === null || value === undefined) return "—";
  if (/rate$/.test(key)) return rate(value);
  if (MONEY.test(key)) return money(value, currency);
  return typeof value === "number" ? value.toLocaleString() : String(value);
}

// the analytics answer shown as it comes: its figures as KPIs, its repeat-purchase comparison, its daily series as charts
export function analyticsView(a, currency) {
  const scalars = Object.entries(a).filter(([k, v]) => typeof v === "number" && !/_id$/.test(k));
  const repeat = a.repeat_purchase_rate;
  const series = a.daily || a.series || [];
  const numericKeys = series.length ? Object.keys(series[0]).filter((k) => k !== "day" && k !== "date" && typeof series[0][k] === "number") : [];
  return h("div", {},
    scalars.length ? h("div", { class: "kpis" }, scalars.map(([k, v]) => kpi(label(k), figure(k, v, currency)))) : null,
    repeat && typeof repeat === "object" ? card("Repeat purchases: redeemers against the others",
      barChart([{ label: "Redeemers", value: Math.round((repeat.redeemers ?? 0) * (repeat.redeemers <= 1 ? 1000 : 10)) / 10 },
        { label: "Non-redeemers", value: Math.round((repeat.non_redeemers ?? 0) * (repeat.non_redeemers <= 1 ? 1000 : 10)) / 10 }],
      { title: "Repeat-purchase rate (%)", format: (v) => v + "%", height: 140 })) : null,
    numericKeys.map((k) => card(label(k) + " per day", barChart(series.map((d) => ({ label: String(Number((d.day || d.date).slice(8, 10))), title: day(d.day || d.date), value: d[k] })),
      { title: `${label(k)} per day`, format: (v) => figure(k, v, currency) }))),
    !scalars.length && !series.length ? empty("No figures yet.") : null);
}

export default async function analytics({ query, navigate }) {
  const current = Object.fromEntries(query.entries());
  const stores = await context.stores();
  const campaigns = (await api.get("/campaigns", context.scope({ limit: 200 }))).items;
  const chosen = campaigns.find((c) => c.id === current.campaign_id) || campaigns[0];
  if (!chosen) return page("Analytics", "How campaigns move repeat purchases.", empty("No campaigns yet: analytics come per campaign."));
  return page("Analytics", "How campaigns move repeat purchases.",
    filters([
      field("campaign_id", "Campaign", { kind: "select", value: chosen.id, options: campaigns.map((c) => [c.id, c.name]) }),
      stores.length ? field("store_id", "Store", { kind: "select", value: current.store_id || "", options: [["", "All stores"], ...stores.map((s) => [s.id, s.name])] }) : null,
    ], (v) => navigate("/portal/analytics?" + new URLSearchParams(v))),
    card(`${chosen.name}`, optional("Campaign analytics", async () =>
      analyticsView(await api.get(`/campaigns/${chosen.id}/analytics`, context.scope(current.store_id ? { store_id: current.store_id } : {})), chosen.currency))));
}
