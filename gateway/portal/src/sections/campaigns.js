// Campaigns (merchant-funded, or under a funding agreement the platform granted) with their budget
// burn-down; funding agreements, issuance approvals and the merchant's limits, decided by the platform.
import { api } from "../core/api.js";
import { lineChart } from "../core/chart.js";
import * as context from "../core/context.js";
import { h, svg } from "../core/dom.js";
import { dateTime, label, money, toMinor, who } from "../core/format.js";
import { announce, async, badge, button, card, confirmButton, dl, errorBox, isMissing, unavailable, field, form, optional, page, pagedTable, tabs } from "../core/ui.js";
import { analyticsView } from "./analytics.js";

const PLATFORM = ["admin", "platform_finance"];
const CAMPAIGN_READERS = ["owner", "finance", "admin"];

function burn(spent, budget, currency) {
  if (!budget) return `${money(spent, currency)} spent (no budget)`;
  const share = Math.min(1, spent / budget);
  const text = `${money(spent, currency)} of ${money(budget, currency)} (${Math.round(share * 100)}%)`;
  return h("span", { class: "burn" },
    svg("svg", { viewBox: "0 0 100 6", class: "burn-bar", role: "img", "aria-label": "Budget used: " + text, preserveAspectRatio: "none" },
      svg("rect", { x: 0, y: 0, width: 100, height: 6, class: "burn-track" }),
      svg("rect", { x: 0, y: 0, width: (share * 100).toFixed(1), height: 6, class: share > 0.9 ? "burn-fill hot" : "burn-fill" })),
    h("span", {}, text));
}

// a campaign starts as a draft: owners activate (scheduled when its start is ahead), pause or end it
function campaignActions(c, reload) {
  const out = h("span", { "aria-live": "polite" });
  const act = (path, text) => button(text, async () => {
    try { await api.post(`/campaigns/${c.id}/${path}`, context.scope({})); reload(); } catch (e) { out.replaceChildren(errorBox(e)); }
  }, { class: "secondary small", label: `${text} campaign ${c.name}` });
  return h("span", { class: "row-actions" }, ["draft", "paused"].includes(c.status) ? act("activation", "Activate") : null,
    ["active", "scheduled"].includes(c.status) ? act("pause", "Pause") : null, c.status !== "ended" ? act("end", "End") : null, out);
}

async function campaigns({ user, navigate }) {
  const currency = context.currency();
  const owner = ["owner", "admin"].includes(user.role);
  const reload = () => navigate("/portal/campaigns", { replaceState: true });
  const parts = [pagedTable([
    { title: "Campaign", cell: (c) => h("a", { href: "/portal/campaigns/view/" + c.id, "data-link": "" }, c.name) }, { title: "Funding", cell: (c) => label(c.funding) + (c.funder_name ? ` (${c.funder_name})` : "") },
    { title: "Budget used", cell: (c) => burn(c.spent, c.budget, c.currency) },
    { title: "Status", cell: (c) => badge(c.status === "paused" && c.pause_reason === "budget_exhausted" ? "budget_exhausted" : c.status) },
    owner ? { title: "", cell: (c) => campaignActions(c, reload) } : null,
  ].filter(Boolean), (cursor) => api.get("/campaigns", context.scope({ cursor, limit: 50 })), { caption: "Campaigns", emptyText: "No campaigns yet." })];
  if (["owner", "admin"].includes(user.role)) {
    let agreements = [];
    try { agreements = (await api.get("/funding-agreements", context.scope({ status: "active", limit: 200 }))).items; } catch (e) { agreements = []; }
    parts.push(card("Start a campaign", form([
      field("name", "Name", { required: true, maxlength: 120 }),
      field("budget", `Budget (${currency}, optional)`, { inputmode: "decimal" }),
      field("funding_agreement_id", "Funding", { kind: "select", options: [["", "Merchant-funded"], ...agreements.map((a) => [a.id, `${label(a.funder_kind)}${a.funder_name ? " " + a.funder_name : ""}: ${money(a.remaining, a.currency)} left`])] }),
    ], "Create campaign (a draft: activate it below)", (v) => {
      const body = { name: v.name, currency };
      if (v.budget) body.budget = toMinor(v.budget, currency) ?? v.budget;
      if (v.funding_agreement_id) body.funding_agreement_id = v.funding_agreement_id;
      return api.post("/campaigns", context.scope(body));
    }, { onDone: (c) => navigate("/portal/campaigns/view/" + c.id) })));
  }
  return h("div", {}, parts);
}

function agreementActions(a, reload) {
  const act = (action, text) => confirmButton(text, { label: `${text} agreement ${a.id.slice(0, 8)}`, ask: `${text} this agreement: why?`, note: "Reason",
    yes: `${text} agreement`, act: async (reason) => { await api.post(`/funding-agreements/${a.id}/${action}`, { reason }); reload(); } });
  return h("span", { class: "row-actions" }, a.status === "active" ? act("suspension", "Suspend") : null, a.status === "suspended" ? act("resumption", "Resume") : null,
    a.status !== "ended" ? act("end", "End") : null);
}

function agreements({ user, navigate }) {
  const platform = PLATFORM.includes(user.role);
  const m = context.merchant();
  const reload = () => navigate("/portal/campaigns/agreements", { replaceState: true });
  const parts = [pagedTable([
    { title: "Funder", cell: (a) => label(a.funder_kind) + (a.funder_name ? ` ${a.funder_name}` : "") },
    { title: "Budget", cell: (a) => money(a.budget, a.currency), class: "num" },
    { title: "Committed", cell: (a) => burn(a.committed, a.budget, a.currency) },
    { title: "Largest voucher", cell: (a) => money(a.max_voucher_value, a.currency), class: "num" },
    { title: "Status", cell: (a) => badge(a.status) },
    platform ? { title: "", cell: (a) => agreementActions(a, reload) } : null,
  ].filter(Boolean), (cursor) => api.get("/funding-agreements", { ...(m && platform ? { merchant_id: m.id } : {}), cursor, limit: 50 }), { caption: "Funding agreements", emptyText: "No funding agreements." })];
  if (platform && m) {
    parts.push(card(`Grant funding to ${m.name}`, form([
      h("div", { class: "row" }, field("funder_kind", "Funder", { kind: "select", options: [["platform", "Platform"], ["partner", "Partner"]] }), field("funder_name", "Partner name (partners)", { maxlength: 120 })),
      h("div", { class: "row" }, field("budget", `Budget (${m.currency})`, { required: true, inputmode: "decimal" }), field("max_voucher_value", `Largest voucher (${m.currency})`, { required: true, inputmode: "decimal" })),
      field("note", "Note", { maxlength: 500 }),
    ], "Grant funding", (v) => api.post("/funding-agreements", {
      merchant_id: m.id, funder_kind: v.funder_kind, currency: m.currency, budget: toMinor(v.budget, m.currency) ?? v.budget,
      max_voucher_value: toMinor(v.max_voucher_value, m.currency) ?? v.max_voucher_value, ...(v.funder_name ? { funder_name: v.funder_name } : {}), ...(v.note ? { note: v.note } : {}),
    }), { onDone: reload })));
  }
  return h("div", {}, parts);
}

function approvals({ user, navigate }) {
  const platform = PLATFORM.includes(user.role);
  const m = context.merchant();
  const reload = () => navigate("/portal/campaigns/approvals", { replaceState: true });
  const decide = (a) => {
    if (!platform || a.status !== "pending") return null;
    const go = (what, text) => confirmButton(text, { label: `${text} request ${a.id.slice(0, 8)}`, ask: `${text}: a note for the audit trail`, note: "Note",
      yes: `${text} request`, act: async (note) => { await api.post(`/issuance-approvals/${a.id}/${what}`, { note }); reload(); } });
    return h("span", { class: "row-actions" }, go("approval", "Approve"), go("rejection", "Reject"));
  };
  const parts = [pagedTable([
    { title: "Asked", cell: (a) => `${dateTime(a.created_at)} by ${who(a.requested_by)}` },
    { title: "Vouchers", cell: (a) => `${a.count} × ${money(a.value, a.currency)}` }, { title: "Left", cell: (a) => String(a.remaining), class: "num" },
    { title: "Why", cell: (a) => a.reason }, { title: "Status", cell: (a) => badge(a.status) }, { title: "", cell: decide },
  ], (cursor) => api.get("/issuance-approvals", { ...(m && platform ? { merchant_id: m.id } : {}), cursor, limit: 50 }), { caption: "Issuance approvals", emptyText: "No requests." })];
  if (user.role === "owner") {
    const currency = context.currency();
    parts.push(card("Ask for vouchers above your ceiling", form([
      h("div", { class: "row" }, field("value", `Value of each (${currency})`, { required: true, inputmode: "decimal" }), field("count", "How many", { required: true, kind: "number", min: 1 })),
      field("reason", "Why", { required: true, maxlength: 500 }),
    ], "Ask the platform", (v) => api.post("/issuance-approvals", { currency, value: toMinor(v.value, currency) ?? v.value, count: Number(v.count), reason: v.reason }), { onDone: reload })));
  }
  return h("div", {}, parts);
}

async function limits({ user, navigate }) {
  const m = context.merchant();
  const l = await api.get("/merchant-limits/" + m.id);
  const parts = [card(`Limits of ${m.name}`, dl([
    ["Voucher value ceiling", money(l.voucher_value_ceiling, m.currency) + (l.voucher_value_ceiling_is_default ? " (default)" : "")],
    ["Daily manual points credits", `${l.daily_points_credit_limit}${l.daily_points_credit_limit_is_default ? " (default)" : ""}; credited today: ${l.points_credited_today}`],
    l.updated_by ? ["Set by", who(l.updated_by)] : null,
  ]))];
  if (PLATFORM.includes(user.role)) {
    parts.push(card("Change limits", form([
      field("voucher_value_ceiling", `Voucher value ceiling (${m.currency}; empty for the default)`, { inputmode: "decimal" }),
      field("daily_points_credit_limit", "Daily points credit limit (empty for the default)", { inputmode: "numeric" }),
      field("reason", "Why", { required: true, maxlength: 500 }),
    ], "Save limits", (v) => api.put("/merchant-limits/" + m.id, {
      voucher_value_ceiling: v.voucher_value_ceiling ? (toMinor(v.voucher_value_ceiling, m.currency) ?? v.voucher_value_ceiling) : null,
      daily_points_credit_limit: v.daily_points_credit_limit ? Number(v.daily_points_credit_limit) : null, reason: v.reason,
    }), { onDone: () => navigate("/portal/campaigns/limits", { replaceState: true }) })));
  }
  return h("div", {}, parts);
}

// budget burn-down: what is left from the start to now, then the forecast's pace to exhaustion
export function burnDown(c, f, daily = []) {
  const start = new Date(c.valid_from || c.created_at);
  const now = new Date();
  const budget = f.budget ?? c.budget;
  const left = budget - (f.spent ?? c.spent ?? 0);
  // what was left at the end of each day with spending (analytics' daily discount cost), then now
  let spent = 0;
  const actual = [{ x: start, y: budget }];
  for (const d of daily.filter((x) => x.discount_cost)) {
    spent += d.discount_cost;
    actual.push({ x: new Date(d.day + "T23:59:59Z"), y: budget - spent });
  }
  actual.push({ x: now, y: left });
  const series = [{ name: "Budget left", points: actual, tone: "main" }];
  // ahead: to exhaustion at the forecast's pace, or (if it never runs out) to the window's end or a month on
  const pace = f.pace_per_day || 0;
  const end = f.exhausted_at ? new Date(f.exhausted_at) : c.valid_until ? new Date(c.valid_until) : new Date(+now + 30 * 86400000);
  const endLeft = f.exhausted_at ? 0 : Math.max(0, Math.round(left - pace * ((end - now) / 86400000)));
  if (end > now) series.push({ name: "At the current pace", points: [{ x: now, y: left }, { x: end, y: endLeft }], tone: "warn", dashed: true });
  return h("div", {}, lineChart(series, { title: `Budget burn-down (${c.currency})`, format: (v) => money(v, c.currency) }),
    h("p", {}, f.exhausted_at ? `At ${money(Math.round(f.pace_per_day || 0), c.currency)} a day (the last ${f.pace_window_days} days), the budget runs out ${dateTime(f.exhausted_at)}.`
      : `At the current pace (${money(Math.round(f.pace_per_day || 0), c.currency)} a day) the budget does not run out.`));
}

async function campaignView({ user, path, navigate }) {
  const id = path[1];
  const c = await api.get("/campaigns/" + id, context.scope());
  const reload = () => navigate(location.pathname, { replaceState: true });
  const owner = ["owner", "admin"].includes(user.role);
  const out = h("div", { "aria-live": "polite" });
  const analytics = api.get(`/campaigns/${id}/analytics`, context.scope()).catch((e) => { if (isMissing(e)) return null; throw e; });
  const lifecycle = (what, text) => form([field("reason", "Reason (optional)", { maxlength: 500 })], text,
    (v) => api.post(`/campaigns/${id}/${what}`, v.reason ? { reason: v.reason } : {}, { query: context.scope() }), { onDone: () => { announce(`Campaign: ${text}`); reload(); }, className: "inline-form" });
  return h("div", {},
    h("p", {}, h("a", { href: "/portal/campaigns", "data-link": "" }, "← Campaigns")),
    card(c.name, dl([
      ["Status", badge(c.status)], c.pause_reason ? ["Paused because", c.pause_reason] : null, ["Goal", label(c.goal || "—")],
      ["Funding", label(c.funding) + (c.funder_name ? ` (${c.funder_name})` : "")],
      ["Budget", c.budget ? money(c.budget, c.currency) : "No budget"], ["Spent", money(c.spent, c.currency)],
      c.committed !== undefined ? ["Committed", money(c.committed, c.currency)] : null,
      c.issued_count !== undefined ? ["Vouchers", `${c.issued_count} issued, ${c.redeemed_count} redeemed`] : null,
      ["Window", `${dateTime(c.valid_from)} – ${c.valid_until ? dateTime(c.valid_until) : "open"}`],
      ["Created", `${dateTime(c.created_at)} by ${who(c.created_by)}`],
    ]), out),
    owner && ["draft", "paused"].includes(c.status) ? card("Activate", lifecycle("activation", "Activate")) : null,
    owner && ["scheduled", "active"].includes(c.status) ? card("Pause", lifecycle("pause", "Pause")) : null,
    c.budget ? card("Budget burn-down", optional("The forecast", async () => {
      const [f, a] = await Promise.all([api.get(`/campaigns/${id}/forecast`, context.scope()), analytics]);
      return burnDown(c, f, a?.daily || []);
    })) : null,
    card("Analytics", optional("Campaign analytics", async () => {
      const a = await analytics;
      if (!a) return unavailable("Campaign analytics");
      return analyticsView(a, c.currency);
    })),
    owner && c.status === "active" ? card("Issue vouchers", form([
      h("div", { class: "row" }, field("target", "To", { kind: "select", options: [["codes", "Anonymous codes"], ["customer", "One customer"], ["segment", "The campaign's audience"]] }),
        field("count", "How many (codes)", { kind: "number", min: 1 }), field("customer_id", "Customer id (one customer)")),
    ], "Issue", (v) => api.post(`/campaigns/${id}/issuance`, { target: v.target, ...(v.count ? { count: Number(v.count) } : {}), ...(v.customer_id ? { customer_id: v.customer_id } : {}) }, { query: context.scope() }),
    { onDone: (job) => out.replaceChildren(h("p", { class: "notice" }, `Issuing: ${job.issued ?? 0} of ${job.requested ?? "?"} (${label(job.status)}).`)) })) : null,
    owner && !["ended"].includes(c.status) && c.status !== "draft" ? card("End", h("p", { class: "hint" }, "For good: its vouchers are refused at the till from now on."), lifecycle("end", "End campaign")) : null,
    c.history?.length ? card("History", h("ol", { class: "audit" }, c.history.map((x) => h("li", {}, dateTime(x.at), " · ", who(x.actor), " · ", label(x.action),
      x.from_status || x.to_status ? ` (${label(x.from_status || "—")} → ${label(x.to_status || "—")})` : "", x.reason ? " · " + x.reason : "")))) : null);
}

export default function campaignsSection(ctx) {
  if (ctx.path[0] === "view" && ctx.path[1]) return page("Campaign", null, async(() => campaignView(ctx)));
  const role = ctx.user.role;
  const items = [CAMPAIGN_READERS.includes(role) && ["list", "Campaigns"], ["owner", ...PLATFORM].includes(role) && ["agreements", "Funding agreements"],
    ["owner", ...PLATFORM].includes(role) && ["approvals", "Issuance approvals"], ["owner", ...PLATFORM].includes(role) && context.merchant() && ["limits", "Limits"]].filter(Boolean);
  const tab = items.some(([k]) => k === ctx.path[0]) ? ctx.path[0] : items[0][0];
  const body = { list: campaigns, agreements, approvals, limits }[tab](ctx);
  return page("Campaigns", "Campaigns and the money behind them.",
    items.length > 1 ? tabs(items, tab, (k) => ctx.navigate("/portal/campaigns/" + k)) : null,
    h("div", { role: items.length > 1 ? "tabpanel" : null }, async(() => body)));
}
