// Support as the API has it today: the queue with filters and counts per status, the create form,
// and a ticket with its Main and Internal threads (the API returns the Internal one to staff only),
// acknowledgement and resolution. Assignment, escalation, attachments and chat come with their API.
import { api } from "../core/api.js";
import { shareBar } from "../core/chart.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime, label, money, who } from "../core/format.js";
import { async, badge, card, dl, empty, field, filters, form, kpi, page, pagedTable } from "../core/ui.js";

const STATUSES = ["open", "overdue", "processing", "resolved", "closed"];
const PRIORITIES = ["low", "normal", "high", "critical"];
const CATEGORIES = ["settlement", "wallet", "onboarding", "campaign", "redemption", "training", "technical", "fulfilment", "item", "other"];
const ACTIONS = [["no_action", "No action"], ["cancel", "Cancel"], ["refund", "Refund"], ["replace", "Replace"]];
const STAFF = ["owner", "support_agent", "finance", "admin"];
const link = (ref) => h("a", { href: "/portal/support/" + encodeURIComponent(ref), "data-link": "" }, ref);

// the KPIs are computed from the queue itself (up to 2,000 tickets): the API has no dashboard yet
async function allTickets() {
  let items = [], cursor = null;
  do {
    const p = await api.get("/support/tickets", context.scope({ limit: 200, cursor }));
    items = items.concat(p.items); cursor = p.next;
  } while (cursor && items.length < 2000);
  return items;
}

function hours(ms) { return ms < 3600000 ? `${Math.max(1, Math.round(ms / 60000))}m` : `${(ms / 3600000).toFixed(1)}h`; }

function refsOf(t) {
  const r = t.refs || {};
  const bits = [];
  if (r.batch_reference) bits.push(h("a", { href: "/portal/settlements/batches/" + encodeURIComponent(r.batch_reference), "data-link": "" }, r.batch_reference));
  if (r.amount !== undefined) bits.push(" " + money(r.amount, r.currency || context.currency()));
  if (r.redemption_reference) bits.push(" " + r.redemption_reference);
  if (r.voucher_code) bits.push(" " + r.voucher_code);
  if (r.wallet_address) bits.push(" wallet " + r.wallet_address);
  return bits.length ? bits : "—";
}

function nextAction(t) {
  if (t.status === "resolved" || t.status === "closed") return "Archive";
  if (!t.acknowledged_at) return t.status === "overdue" ? "Acknowledge now (overdue)" : "Acknowledge by " + dateTime(t.ack_due_at);
  return "Resolve";
}

async function queue({ user, query, navigate }) {
  const staff = STAFF.includes(user.role);
  const stores = await context.stores();
  const storeNames = Object.fromEntries(stores.map((s) => [s.id, s.name]));
  const current = Object.fromEntries(query.entries());
  const counts = h("div", {}, async(async () => {
    const tickets = await allTickets();
    const c = Object.fromEntries(STATUSES.map((st) => [st, tickets.filter((t) => t.status === st).length]));
    const acked = tickets.filter((t) => t.acknowledged_at);
    const inTime = acked.filter((t) => new Date(t.acknowledged_at) <= new Date(t.ack_due_at)).length;
    const late = c.overdue + acked.length - inTime;
    const sla = acked.length + c.overdue ? Math.round((inTime / (acked.length + c.overdue)) * 100) + "%" : "—";
    const response = acked.length ? hours(acked.reduce((n, t) => n + (new Date(t.acknowledged_at) - new Date(t.created_at)), 0) / acked.length) : "—";
    const critical = tickets.filter((t) => t.priority === "critical" && !["resolved", "closed"].includes(t.status)).length;
    return h("div", {},
      h("div", { class: "kpis" },
        kpi("Support SLA", sla, `acknowledged within 2 hours (${late} late)`),
        kpi("Open tickets", String(c.open + c.overdue + c.processing), "awaiting action"),
        kpi("Critical tickets", String(critical), "not yet resolved", critical ? "alert" : null),
        kpi("Average response", response, "to acknowledgement")),
      shareBar([{ label: "Open", value: c.open + c.overdue, tone: "open" }, { label: "In progress", value: c.processing, tone: "progress" },
        { label: "Resolved", value: c.resolved + c.closed, tone: "done" }], "Status mix"));
  }));

  const filterForm = filters([
    field("status", "Status", { kind: "select", value: current.status || "", options: [["", "Any"], ...STATUSES.map((s) => [s, label(s)])] }),
    field("priority", "Priority", { kind: "select", value: current.priority || "", options: [["", "Any"], ...PRIORITIES.map((s) => [s, label(s)])] }),
    field("category", "Category", { kind: "select", value: current.category || "", options: [["", "Any"], ...CATEGORIES.map((s) => [s, label(s)])] }),
    stores.length ? field("store_id", "Store", { kind: "select", value: current.store_id || "", options: [["", "Any"], ...stores.map((s) => [s.id, s.name])] }) : null,
  ], (values) => navigate("/portal/support?" + new URLSearchParams(values)));

  const list = pagedTable([
    { title: "Record", cell: (t) => link(t.reference) },
    { title: "Subject", cell: (t) => t.subject },
    { title: "Owner", cell: (t) => (t.store_id ? storeNames[t.store_id] || (t.store_id === user.store_id ? "Your store" : "Store") : "Merchant") },
    { title: "Priority", cell: (t) => badge(t.priority) },
    { title: "Status", cell: (t) => badge(t.status) },
    { title: "Value", cell: (t) => [label(t.category), " ", refsOf(t)] },
    { title: "Next action", cell: nextAction },
  ], (cursor) => api.get("/support/tickets", context.scope({ ...current, cursor, limit: 25 })), { caption: "Support queue", emptyText: "No tickets match." });

  const subject = field("subject", "Subject", { required: true, maxlength: 200 });
  const description = field("description", "What happened", { kind: "textarea", required: true, rows: 4, maxlength: 10000 });
  const category = field("category", "Category", { kind: "select", options: CATEGORIES.map((s) => [s, label(s)]) });
  const priority = field("priority", "Priority", { kind: "select", value: "normal", options: PRIORITIES.map((s) => [s, label(s)]) });
  const store = stores.length ? field("store_id", "Store (optional)", { kind: "select", options: [["", "The whole merchant"], ...stores.map((s) => [s.id, s.name])] }) : null;
  const batch = staff ? field("batch_reference", "Settlement batch (optional)", { placeholder: "SET-2026-05-004", maxlength: 40 }) : null;
  const create = form([subject, description, h("div", { class: "row" }, category, priority), store, batch], "Create ticket", async (v) => {
    const body = { subject: v.subject, description: v.description, category: v.category, priority: v.priority, refs: {} };
    if (v.store_id) body.store_id = v.store_id;
    if (v.batch_reference) body.refs.batch_reference = v.batch_reference;
    Object.assign(body, context.scope());
    return api.post("/support/tickets", body);
  }, { onDone: (t) => navigate("/portal/support/" + encodeURIComponent(t.reference)) });

  return page("Support", "Onboarding, wallet, campaign and settlement questions, worked to resolution.",
    counts, card("Support queue", filterForm, list), card("Create support ticket", create));
}

async function ticketView({ user, path, navigate }) {
  const reference = path[0];
  const staff = STAFF.includes(user.role);
  const t = await api.get("/support/tickets/" + encodeURIComponent(reference), context.scope());
  const thread = (name, messages) => messages.length
    ? h("ol", { class: "thread" }, messages.map((m) => h("li", { class: "message" }, h("p", { class: "meta" }, who(m.author), " · ", dateTime(m.created_at)), h("p", { class: "body" }, m.body))))
    : empty(`Nothing in the ${name} thread yet.`);
  const main = (t.messages || []).filter((m) => m.thread === "main");
  const internal = (t.messages || []).filter((m) => m.thread === "internal");
  const reload = () => navigate("/portal/support/" + encodeURIComponent(reference), { replaceState: true });

  const actions = [];
  if (staff && !t.acknowledged_at && !["resolved", "closed"].includes(t.status)) {
    actions.push(card("Acknowledge", form([field("remarks", "Reply to the person who raised it", { kind: "textarea", required: true, maxlength: 5000 })], "Acknowledge",
      (v) => api.post(`/support/tickets/${encodeURIComponent(reference)}/acknowledgement`, { remarks: v.remarks }, { query: context.scope() }), { onDone: reload })));
  }
  if (staff && !["resolved", "closed"].includes(t.status)) {
    actions.push(card("Resolve", form([
      field("action", "Resolution", { kind: "select", options: ACTIONS }),
      field("resolution", "What was done", { kind: "textarea", required: true, maxlength: 5000 }),
      field("remarks", "Remarks (optional)", { kind: "textarea", maxlength: 5000 }),
    ], "Resolve ticket", (v) => api.post(`/support/tickets/${encodeURIComponent(reference)}/resolution`,
      { action: v.action, resolution: v.resolution, ...(v.remarks ? { remarks: v.remarks } : {}) }, { query: context.scope() }), { onDone: reload })));
  }

  const el = page(`${t.reference}: ${t.subject}`, null,
    h("p", {}, h("a", { href: "/portal/support", "data-link": "" }, "← Support queue")),
    card("Ticket", dl([
      ["Status", badge(t.status)], ["Priority", badge(t.priority)], ["Category", label(t.category)],
      ["Store", await context.storeName(t.store_id)], ["References", refsOf(t)],
      ["Raised by", who(t.raised_by)], ["Raised", dateTime(t.created_at)],
      ["Acknowledge by", dateTime(t.ack_due_at)], ["Acknowledged", dateTime(t.acknowledged_at)],
      t.resolution ? ["Resolution", `${label(t.resolution.action)}: ${t.resolution.resolution}`] : null,
      t.resolved_at ? ["Resolved", dateTime(t.resolved_at)] : null,
    ])),
    h("div", { class: "threads" },
      card("Main thread", thread("Main", main)),
      staff ? card("Internal thread", h("p", { class: "hint" }, "Staff only: the person who raised the ticket does not see this."), thread("Internal", internal)) : null),
    ...actions,
    staff && t.audit ? card("Audit log", h("ol", { class: "audit" }, t.audit.map((a) => h("li", {}, dateTime(a.at), " · ", who(a.actor), " · ", label(a.action),
      a.details && Object.keys(a.details).length ? " · " + Object.entries(a.details).filter(([, v]) => v !== null).map(([k, v]) => `${label(k)}: ${label(v)}`).join(", ") : "")))) : null);
  el.classList.add("ticket");
  return el;
}

export default function support(ctx) {
  return ctx.path.length ? ticketView(ctx) : queue(ctx);
}
