// Headline figures: redemptions per day and store (last 30 days), the support desk's open, critical
// and overdue tickets and its SLA, and what the ledger says the merchant is still owed (each from the
// queue or the unbatched entries where the server has no dashboard or balances).
import { api } from "../core/api.js";
import { barChart } from "../core/chart.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { day, money } from "../core/format.js";
import { async, card, empty, errorBox, isMissing, kpi, page, table } from "../core/ui.js";

const DAYS = 30;

async function countAll(path, query, max = 1000) {
  let n = 0, cursor = null, items = [];
  do {
    const p = await api.get(path, { ...query, limit: 200, cursor });
    n += p.items.length; items = items.concat(p.items); cursor = p.next;
  } while (cursor && n < max);
  return { count: n, more: !!cursor, items };
}

export default async function dashboard({ user }) {
  const since = new Date(Date.now() - DAYS * 86400000);
  since.setUTCHours(0, 0, 0, 0);
  const currency = context.currency();
  const seesTickets = ["owner", "store_user", "support_agent", "finance"].includes(user.role);
  const seesLedger = ["owner", "finance"].includes(user.role);

  const totals = api.get("/redemptions/totals", { since: since.toISOString() });
  const kpis = h("div", { class: "kpis" });
  const fill = async () => {
    const t = await totals;
    const sum = t.items.reduce((a, r) => ({ n: a.n + r.redemptions, amount: a.amount + r.amount }), { n: 0, amount: 0 });
    kpis.append(kpi(`Redemptions, ${DAYS} days`, String(sum.n), money(sum.amount, currency)));
    if (seesTickets) {
      let overall = null;
      try { overall = (await api.get("/support/dashboard", context.scope(user.role === "store_user" ? { store_id: user.store_id } : {}))).overall; }
      catch (e) { if (!isMissing(e) && e.status !== 403) throw e; }
      if (overall) { // the desk's own figures
        kpis.append(...[kpi("Open tickets", String(overall.open), "awaiting action"),
          kpi("Critical tickets", String(overall.critical), "not yet resolved", overall.critical ? "alert" : null),
          kpi("Overdue", String(overall.overdue), "past their response target", overall.overdue ? "warn" : null),
          overall.sla_attainment_percent !== null ? kpi("Support SLA", `${overall.sla_attainment_percent}%`, "first responses in time") : null].filter(Boolean));
      } else {
        const [open, critical, overdue] = await Promise.all([
          countAll("/support/tickets", { status: "open" }), countAll("/support/tickets", { priority: "critical" }),
          countAll("/support/tickets", { overdue: "true" })]); // the flag the SLA clock sets, not a status
        const criticalOpen = critical.items.filter((x) => !["resolved", "closed"].includes(x.status)).length;
        kpis.append(kpi("Open tickets", String(open.count) + (open.more ? "+" : ""), "awaiting action"),
          kpi("Critical tickets", String(criticalOpen), "not yet resolved", criticalOpen ? "alert" : null),
          kpi("Overdue", String(overdue.count) + (overdue.more ? "+" : ""), "past their response target", overdue.count ? "warn" : null));
      }
    }
    if (seesLedger) {
      let balances = null;
      try { balances = await api.get("/settlements/balances", context.scope()); } catch (e) { if (!isMissing(e)) throw e; }
      if (balances) { // what the ledger says the merchant is still owed
        const outstanding = (balances.stores || []).filter((b) => b.currency === currency).reduce((n, b) => n + b.outstanding, 0);
        kpis.append(kpi("Owed to you", money(outstanding, currency), "settled in the next batches"));
      } else {
        const entries = await countAll("/settlements/entries", { unbatched: "true" });
        const owed = entries.items.reduce((n, e) => n + e.amount, 0);
        kpis.append(kpi("Unbatched entries", String(entries.count) + (entries.more ? "+" : ""), money(owed, currency) + " to settle"));
      }
    }
    return kpis;
  };

  const chart = async () => {
    const t = await totals;
    const byDay = {};
    for (const r of t.items) byDay[r.day] = (byDay[r.day] || 0) + r.amount;
    const bars = [];
    for (let i = DAYS - 1; i >= 0; i--) {
      const d = new Date(Date.now() - i * 86400000).toISOString().slice(0, 10);
      bars.push({ label: String(Number(d.slice(8))), title: day(d), value: byDay[d] || 0 });
    }
    return barChart(bars, { title: `Redeemed value per day, last ${DAYS} days (${currency})`, format: (v) => money(v, currency) });
  };

  const perStore = async () => {
    const t = await totals;
    const rows = {};
    for (const r of t.items) {
      const row = rows[r.store_id] || (rows[r.store_id] = { store_id: r.store_id, n: 0, amount: 0, currency: r.currency });
      row.n += r.redemptions; row.amount += r.amount;
    }
    const names = {};
    for (const id of Object.keys(rows)) names[id] = await context.storeName(id);
    if (!Object.keys(rows).length) return empty(`No redemptions in the last ${DAYS} days.`);
    return table([
      { title: "Store", cell: (r) => names[r.store_id] },
      { title: "Redemptions", cell: (r) => String(r.n), class: "num" },
      { title: "Value", cell: (r) => money(r.amount, r.currency), class: "num" },
    ], Object.values(rows), "Redemptions per store");
  };

  return page("Dashboard", user.role === "store_user" ? "Your store's day at a glance." : "The merchant's headline figures.",
    h("div", {}, async(() => fill().catch((e) => errorBox(e)))),
    card("Daily redemptions", async(chart)),
    card("Per store", async(perStore)));
}
