// Support as the portal document shows it: KPIs (SLA %, open, critical, average response) from
// /support/dashboard, the queue with the panel's filters and its status mix, the create form, and a
// ticket with its Main and Internal threads (the API returns the Internal one to staff only),
// attachments, assignment with each agent's load, acknowledgement with an ETA, escalation up the
// chain and resolution; the chat inbox (conversations with customers) under /support/chat.
import { ApiError, api, idempotencyKey } from "../core/api.js";
import { barChart, shareBar } from "../core/chart.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime, label, money, toMinor, who } from "../core/format.js";
import { announce, async, badge, button, card, confirmButton, dl, download, empty, errorBox, field, filters, form, isMissing, kpi, optional, page, pagedTable, table, tabs, unavailable } from "../core/ui.js";

const STATUSES = ["open", "processing", "resolved", "closed"];
const VIEW_BY = ["open", "processing", "resolved", "closed", "lsp_pending", "lsp_processing", "lsp_resolved"];
const PRIORITIES = ["low", "normal", "high", "critical"];
const CATEGORIES = ["settlement", "wallet", "onboarding", "campaign", "redemption", "training", "technical", "other", "order", "item", "fulfilment", "agent", "payment"];
const ACTIONS = [["no_action", "No action"], ["cancel", "Cancel"], ["refund", "Refund"], ["replace", "Replace"], ["return", "Return"]];
const STAFF = ["owner", "support_agent", "finance", "admin", "platform_support", "it_support"];
const ASSIGNERS = ["owner", "support_agent", "admin"];
const DESK = ["store_user", "owner", "support_agent", "finance", "admin"];
const PLATFORM_DESK = ["platform_support", "it_support"];
const CHAT = ["owner", "support_agent", "finance", "admin", "store_user"]; // the merchant's team talks with its customers
const DONE = ["resolved", "closed"];
const CANNED = ["owner", "support_agent", "admin"]; // who keeps the canned responses (any desk role may read them)
const DESK_OWNERS = ["owner", "admin"]; // SLA policies, agents' capacity and the assignment mode
const MODES = [["off", "Off: tickets wait to be assigned"], ["round_robin", "Round robin"], ["least_loaded", "Least loaded agent"]];
const link = (ref) => h("a", { href: "/portal/support/" + encodeURIComponent(ref), "data-link": "" }, ref);
// overdue is a flag the SLA clock sets on an open or processing ticket, never a status
const isOverdue = (t) => !!t.overdue;

function hours(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return seconds < 3600 ? `${Math.max(1, Math.round(seconds / 60))}m` : `${(seconds / 3600).toFixed(1)}h`;
}

function refsOf(t) {
  const r = t.refs || {};
  const bits = [];
  if (r.batch_reference) bits.push(h("a", { href: "/portal/settlements/batches/" + encodeURIComponent(r.batch_reference), "data-link": "" }, r.batch_reference));
  if (r.amount !== undefined) bits.push(" " + money(r.amount, r.currency || context.currency()));
  if (r.redemption_reference) bits.push(" " + r.redemption_reference);
  if (r.voucher_code) bits.push(" " + r.voucher_code);
  if (r.wallet_address) bits.push(" wallet " + r.wallet_address);
  if (t.order_id) bits.push(" order " + t.order_id);
  return bits.length ? bits : "—";
}

function nextAction(t) {
  if (DONE.includes(t.status)) return "Archive";
  if (!t.acknowledged_at) return isOverdue(t) ? "Acknowledge now (overdue)" : "Acknowledge by " + dateTime(t.ack_due_at);
  if (t.lsp_status && t.lsp_status !== "resolved") return "Logistics partner: " + label(t.lsp_status);
  if (!t.assignee && !t.assignee_id) return "Assign";
  return "Resolve" + (t.resolution_due_at ? " by " + dateTime(t.resolution_due_at) : "");
}

// the queue itself, up to 2,000 tickets: the KPIs when the API has no dashboard
async function allTickets() {
  let items = [], cursor = null;
  do {
    const p = await api.get("/support/tickets", context.scope({ limit: 200, cursor }));
    items = items.concat(p.items); cursor = p.next;
  } while (cursor && items.length < 2000);
  return items;
}

function kpisFromQueue(tickets) {
  const c = Object.fromEntries(STATUSES.map((st) => [st, tickets.filter((t) => t.status === st).length]));
  const overdue = tickets.filter((t) => isOverdue(t) && !DONE.includes(t.status)).length;
  const acked = tickets.filter((t) => t.acknowledged_at);
  const inTime = acked.filter((t) => new Date(t.acknowledged_at) <= new Date(t.ack_due_at)).length;
  const unackedLate = tickets.filter((t) => !t.acknowledged_at && isOverdue(t)).length;
  return {
    sla_attainment: acked.length + unackedLate ? inTime / (acked.length + unackedLate) : null,
    open: c.open + c.processing, critical: tickets.filter((t) => t.priority === "critical" && !DONE.includes(t.status)).length,
    average_first_response_seconds: acked.length ? acked.reduce((n, t) => n + (new Date(t.acknowledged_at) - new Date(t.created_at)), 0) / acked.length / 1000 : null,
    overdue, counts: { ...c, overdue },
  };
}

// SLA attainment per day of creation over the last two weeks, from the queue itself: of the tickets
// that were due a first response, the share answered in time (a chart people look at, not read)
function slaTrend(tickets, days = 14) {
  const bars = [];
  for (let i = days - 1; i >= 0; i--) {
    const d = new Date(Date.now() - i * 86400000).toISOString().slice(0, 10);
    const due = tickets.filter((t) => t.created_at.slice(0, 10) === d && (t.acknowledged_at || t.first_response_at || isOverdue(t)));
    const inTime = due.filter((t) => { const at = t.first_response_at || t.acknowledged_at; return at && new Date(at) <= new Date(t.ack_due_at); }).length;
    bars.push({ label: String(Number(d.slice(8))), title: `${d}: ${inTime} of ${due.length} in time`, value: due.length ? Math.round((100 * inTime) / due.length) : 0 });
  }
  return barChart(bars, { title: "SLA attainment per day, last 14 days (%)", format: (v) => v + "%", height: 140 });
}

async function kpiPanel(user) {
  const scope = context.scope(user.store_id && user.role === "store_user" ? { store_id: user.store_id } : {});
  let overall, byStore = [], counts, tickets = null, fromQueue = false;
  try {
    const d = await api.get("/support/dashboard", scope);
    overall = d.overall || {}; byStore = d.by_store || [];
  } catch (e) {
    if (!isMissing(e) && e.status !== 403) throw e;
    tickets = await allTickets(); fromQueue = true;
    const k = kpisFromQueue(tickets);
    overall = { open: k.open, critical: k.critical, overdue: k.overdue, avg_first_response_seconds: k.average_first_response_seconds,
      sla_attainment_percent: k.sla_attainment === null ? null : Math.round(k.sla_attainment * 1000) / 10 };
    counts = k.counts;
  }
  if (!counts) {
    try { counts = await api.get("/support/tickets/counts", scope); } catch (e) { if (!isMissing(e)) throw e; counts = {}; }
  }
  if (!tickets) tickets = await allTickets();
  const n = (k) => Number(counts[k] || 0);
  // overdue from the tickets' own flag (the count behind the queue's Overdue filter), so the figure
  // and the list it links to agree
  const overdue = counts.overdue ?? overall.overdue ?? 0;
  const storeNames = Object.fromEntries((await context.stores()).map((s) => [s.id, s.name]));
  const sla = overall.sla_attainment_percent;
  return h("div", {},
    h("div", { class: "kpis" },
      kpi("Support SLA", sla === null || sla === undefined ? "—" : `${sla}%`, "first responses in time" + (fromQueue ? " (from the queue)" : "")),
      kpi("Open tickets", String(overall.open ?? "—"), "awaiting action"),
      kpi("Critical tickets", String(overall.critical ?? "—"), "not yet resolved", overall.critical ? "alert" : null),
      kpi("Average response", hours(overall.avg_first_response_seconds), "to first response"),
      overall.avg_resolution_seconds !== undefined ? kpi("Average resolution", hours(overall.avg_resolution_seconds), "to resolved") : null,
      kpi("Overdue", STAFF.includes(user.role) ? h("a", { href: "/portal/support?overdue=true", "data-link": "", "aria-label": `${overdue} overdue: show them` }, String(overdue)) : String(overdue),
        "past their target", overdue ? "warn" : null),
      overall.csat !== undefined && overall.csat !== null ? kpi("Satisfaction", `${overall.csat} / 5`, `${overall.rated} rated`) : null),
    shareBar([{ label: "Open", value: n("open"), tone: "open" }, { label: "In progress", value: n("processing"), tone: "progress" },
      { label: "Resolved", value: n("resolved") + n("closed"), tone: "done" }], "Status mix"),
    h("details", { class: "chart-data" }, h("summary", {}, "SLA trend" + (byStore.length > 1 && user.role !== "store_user" ? " and per store" : "")),
      slaTrend(tickets),
      byStore.length > 1 && user.role !== "store_user" ? h("ul", {}, byStore.map((s) => h("li", {},
        `${storeNames[s.store_id] || (s.store_id ? "Store" : "Merchant-wide")}: ${s.open} open, ${s.critical} critical, SLA ${s.sla_attainment_percent ?? "—"}%`))) : null));
}

async function agentsList() {
  return (await api.get("/support/agents", context.scope())).items || [];
}
const agentName = (a) => a.username + (a.display_name ? ` (${a.display_name})` : "");
const agentLoad = (a) => `${a.open_tickets ?? 0} open${a.capacity ? ` of ${a.capacity}` : ""}${a.available === false ? ", away" : ""}`;

async function queue({ user, query, navigate }) {
  if (PLATFORM_DESK.includes(user.role)) {
    // the platform's desk sees only escalated tickets, across merchants: a server without that queue refuses
    try { await api.get("/support/tickets", context.scope({ limit: 1 })); } catch (e) {
      if (isMissing(e) || e.status === 403) return page("Support", "Tickets escalated to the platform, across merchants.", unavailable("The queue of escalated tickets"));
      throw e;
    }
  }
  const staff = STAFF.includes(user.role);
  const stores = await context.stores();
  const storeNames = Object.fromEntries(stores.map((s) => [s.id, s.name]));
  const current = Object.fromEntries(query.entries());
  let agents = [];
  if (ASSIGNERS.includes(user.role)) { try { agents = await agentsList(); } catch (e) { agents = []; } }

  const yes = [["", "Any"], ["true", "Yes"]];
  const filterForm = filters([
    field("view_by", "View by", { kind: "select", value: current.view_by || "", options: [["", "All tickets"], ...VIEW_BY.map((s) => [s, label(s.replace("lsp_", "logistics "))])] }),
    field("priority", "Priority", { kind: "select", value: current.priority || "", options: [["", "Any"], ...PRIORITIES.map((s) => [s, label(s)])] }),
    field("category", "Category", { kind: "select", value: current.category || "", options: [["", "Any"], ...CATEGORIES.map((s) => [s, label(s)])] }),
    stores.length ? field("store_id", "Store", { kind: "select", value: current.store_id || "", options: [["", "Any"], ...stores.map((s) => [s.id, s.name])] }) : null,
    agents.length ? field("assigned_to", "Assigned to", { kind: "select", value: current.assigned_to || "", options: [["", "Anyone"], ...agents.map((a) => [a.user_id, agentName(a)])] }) : null,
    staff ? field("unassigned", "Unassigned", { kind: "select", value: current.unassigned || "", options: yes }) : null,
    staff ? field("overdue", "Overdue", { kind: "select", value: current.overdue || "", options: yes }) : null,
    staff ? field("unacknowledged", "Unacknowledged, not overdue", { kind: "select", value: current.unacknowledged || "", options: yes }) : null,
    staff ? field("mine", "My tickets", { kind: "select", value: current.mine || "", options: yes }) : null,
    field("submitted_by_me", "Submitted by me", { kind: "select", value: current.submitted_by_me || "", options: yes }),
  ], (values) => navigate("/portal/support?" + new URLSearchParams(values)));

  const owner = (t) => t.assignee ? who(t.assignee) : t.store_id ? storeNames[t.store_id] || (t.store_id === user.store_id ? "Your store" : "Store") : "Merchant";
  const list = pagedTable([
    { title: "Record", cell: (t) => link(t.reference) },
    { title: "Subject", cell: (t) => t.subject },
    { title: "Owner", cell: owner },
    { title: "Priority", cell: (t) => badge(t.priority) },
    { title: "Status", cell: (t) => [badge(t.status), isOverdue(t) ? [" ", badge("overdue", "Overdue")] : null] },
    { title: "Value", cell: (t) => [label(t.category), t.sub_category ? ` ${t.sub_category}` : "", " ", refsOf(t)] },
    { title: "Next action", cell: nextAction },
  ], (cursor) => api.get("/support/tickets", context.scope({ ...current, cursor, limit: 25 })), { caption: "Support queue", emptyText: "No tickets match." });

  const parts = [
    h("div", {}, async(() => kpiPanel(user))),
    deskTabs(user, "queue", navigate),
    card("Support queue", filterForm, list),
  ];
  if (!PLATFORM_DESK.includes(user.role)) parts.push(card("Create support ticket", createForm(user, stores, navigate)));
  return page("Support", PLATFORM_DESK.includes(user.role) ? "Tickets escalated to the platform, across merchants." : "Onboarding, wallet, campaign and settlement questions, worked to resolution.", parts);
}

// ONDC IGM: a buyer issue (order, item, fulfilment, agent, payment) carries its issue code, the
// delivery type, the order and the items; these codes need a photo (the service refuses them without)
const IGM_CODES = {
  order: ["ORD01", "ORD02", "ORD03", "ORD04"], item: ["ITM01", "ITM02", "ITM03", "ITM04", "ITM05"],
  fulfilment: ["FLM01", "FLM02", "FLM03", "FLM04", "FLM05", "FLM06", "FLM07", "FLM08", "FLM09"],
  agent: ["AGT01", "AGT02"], payment: ["PMT01", "PMT02", "PMT03", "PMT04", "PMT05", "PMT06", "PMT07"],
};
const IMAGES_REQUIRED = ["ITM02", "ITM03", "ITM04", "ITM05", "FLM04"];
const MAX_ITEMS = 50;

function issueItemRow(index, currency, onRemove) {
  const n = index + 1;
  const row = h("fieldset", { class: "checks issue-item" }, h("legend", {}, `Issue item ${n}`),
    field(`issue_items.${index}.item`, "Item", { required: true, maxlength: 200 }),
    field(`issue_items.${index}.quantity`, "Quantity", { kind: "number", required: true, min: 1, max: 100000, step: 1, value: "1" }),
    field(`issue_items.${index}.order_value`, `Order value (${currency})`, { inputmode: "decimal", required: true, placeholder: "0.00" }));
  row.append(h("div", { class: "actions" }, button("Remove", onRemove, { class: "secondary small", label: `Remove issue item ${n}` })));
  return row;
}

function createForm(user, stores, navigate) {
  const staff = STAFF.includes(user.role);
  const currency = context.currency();
  const subject = field("subject", "Subject", { required: true, maxlength: 200 });
  const description = field("description", "What happened", { kind: "textarea", required: true, rows: 4, maxlength: 10000 });
  const category = field("category", "Category", { kind: "select", options: CATEGORIES.map((s) => [s, label(s)]) });
  const priority = field("priority", "Priority", { kind: "select", value: "normal", options: PRIORITIES.map((s) => [s, label(s)]) });
  const store = stores.length ? field("store_id", "Store (optional)", { kind: "select", options: [["", "The whole merchant"], ...stores.map((s) => [s.id, s.name])] }) : null;
  const batch = staff ? field("batch_reference", "Settlement batch (optional)", { placeholder: "SET-2026-05-004", maxlength: 40 }) : null;

  // the buyer-issue part, shown for the IGM categories only
  const code = field("sub_category", "Issue code (ONDC IGM)", { kind: "select", options: [] });
  const delivery = field("delivery_type", "Delivery", { kind: "select", options: [["", "—"], ["off_network", "Off-network (the merchant delivers)"], ["on_network", "On-network (a logistics partner delivers)"]] });
  const order = field("order_id", "Order reference", { maxlength: 80, hint: "Every buyer issue but an agent's names its order." });
  const photos = field("attachment_ids", "Photos", { kind: "file", accept: "image/*",
    hint: `${IMAGES_REQUIRED.join(", ")} need at least one photo of the item or package (images only, at most 10).` });
  photos.control.multiple = true;
  const items = h("div", { class: "issue-items" });
  const renumber = () => {
    // keep names (issue_items.N.*) in step with the list, so the API's field errors land on the right row
    const values = [...items.children].map((r) => [...r.querySelectorAll("input")].map((i) => i.value));
    items.replaceChildren(...values.map((v, i) => {
      const r = issueItemRow(i, currency, () => { r.remove(); renumber(); });
      [...r.querySelectorAll("input")].forEach((input, k) => { input.value = v[k]; });
      return r;
    }));
  };
  const addItem = button("Add an issue item", () => {
    if (items.children.length >= MAX_ITEMS) return;
    const r = issueItemRow(items.children.length, currency, () => { r.remove(); renumber(); });
    items.append(r);
    r.querySelector("input").focus();
  }, { class: "secondary small" });
  const igm = h("div", { class: "igm", hidden: true }, h("p", { class: "hint" }, "A buyer's issue (ONDC IGM): its code, the order and what was wrong with it."),
    h("div", { class: "row" }, code, delivery), order, items, h("div", { class: "actions" }, addItem), photos);
  const needsPhoto = () => IMAGES_REQUIRED.includes(code.control.value);
  const sync = () => {
    const codes = IGM_CODES[category.control.value];
    igm.hidden = !codes;
    if (codes && ![...code.control.options].some((o) => o.value && codes.includes(o.value))) {
      code.control.replaceChildren(h("option", { value: "" }, "—"), ...codes.map((c) => h("option", { value: c }, c)));
    }
    photos.control.required = needsPhoto();
  };
  category.control.addEventListener("change", sync);
  code.control.addEventListener("change", sync);

  return form([subject, description, h("div", { class: "row" }, category, priority), igm, store, batch], "Create ticket", async (v, el) => {
    const body = { subject: v.subject, description: v.description, category: v.category, priority: v.priority, refs: {} };
    if (v.store_id) body.store_id = v.store_id;
    if (v.batch_reference) body.refs.batch_reference = v.batch_reference;
    if (IGM_CODES[v.category]) {
      const files = [...photos.control.files];
      const fields = {};
      if (files.some((f) => !f.type.startsWith("image/"))) fields.attachment_ids = ["Photos only (PNG, JPEG, ...)."];
      else if (needsPhoto() && !files.length) fields.attachment_ids = [`${v.sub_category} needs at least one photo.`];
      else if (files.length > 10) fields.attachment_ids = ["At most 10 photos."];
      const lines = [...items.children].map((r, i) => {
        const [item, quantity, value] = [...r.querySelectorAll("input")].map((x) => x.value.trim());
        const minor = toMinor(value, currency);
        if (!item) fields[`issue_items.${i}.item`] = ["Name the item."];
        if (!/^\d+$/.test(quantity) || Number(quantity) < 1) fields[`issue_items.${i}.quantity`] = ["A whole number, 1 or more."];
        if (minor === null) fields[`issue_items.${i}.order_value`] = [`An amount in ${currency}, e.g. 120.50.`];
        return { item, quantity: Number(quantity), order_value: minor };
      });
      // refused here, before anything is uploaded or sent
      if (Object.keys(fields).length) throw new ApiError(422, { code: "validation_failed", message: "Some fields are not valid", fields });
      if (v.sub_category) body.sub_category = v.sub_category;
      if (v.delivery_type) body.delivery_type = v.delivery_type;
      if (v.order_id) body.order_id = v.order_id;
      if (lines.length) { body.issue_items = lines; body.currency = currency; }
      const ids = [];
      for (const file of files) {
        const data = new FormData();
        data.append("file", file);
        ids.push((await api.upload("/support/attachments", data, { query: context.scope() })).id);
      }
      if (ids.length) body.attachment_ids = ids;
    }
    Object.assign(body, context.scope());
    return api.post("/support/tickets", body);
  }, { onDone: (t) => navigate("/portal/support/" + encodeURIComponent(t.reference)) });
}

// -- one ticket ---------------------------------------------------------------------------------
// an audit record's details as written: words of the vocabulary read as words, everything else as it is
const detailValue = (v) => (typeof v === "boolean" ? (v ? "yes" : "no") : /^[a-z]+(_[a-z]+)*$/.test(String(v)) ? label(v) : String(v));
function auditList(items) {
  return h("ol", { class: "audit" }, items.map((a) => {
    const details = Object.entries(a.details || {}).filter(([k, v]) => v !== null && v !== "" && typeof v !== "object" && !/_id$/.test(k))
      .map(([k, v]) => `${label(k)}: ${detailValue(v)}`);
    return h("li", {}, [dateTime(a.at), who(a.actor), label(a.action), ...(details.length ? [details.join(", ")] : [])].join(" · "));
  }));
}

function attachmentLink(reference, a) {
  const name = a.filename || a.name || "attachment";
  return button(`${name}${a.size ? ` (${Math.ceil(a.size / 1024)} KB)` : ""}`, async () => {
    download(await api.blobUrl(`/support/tickets/${encodeURIComponent(reference)}/attachments/${a.id}`, context.scope()), name);
  }, { class: "link" });
}

function thread(reference, name, messages) {
  return messages.length
    ? h("ol", { class: "thread" }, messages.map((m) => h("li", { class: "message" },
      h("p", { class: "meta" }, who(m.author), " · ", dateTime(m.created_at)), h("p", { class: "body" }, m.body),
      m.attachments?.length ? h("p", { class: "meta" }, "Attached: ", m.attachments.map((a) => [attachmentLink(reference, a), " "])) : null)))
    : empty(`Nothing in the ${name} thread yet.`);
}

// a canned response picked into the reply box, at the cursor, to edit before it is sent
function cannedPicker(canned, box) {
  if (!canned.length) return null;
  const pick = field("canned", "Canned response", { kind: "select", options: [["", "Choose one…"], ...canned.map((c) => [c.id, c.title])] });
  pick.control.removeAttribute("name"); // not part of the message
  const insert = button("Insert", () => {
    const found = canned.find((c) => c.id === pick.control.value);
    if (!found) return;
    const at = box.selectionStart ?? box.value.length;
    box.value = box.value.slice(0, at) + found.body + box.value.slice(box.selectionEnd ?? at);
    box.focus();
    box.selectionStart = box.selectionEnd = at + found.body.length;
  }, { class: "secondary", label: "Insert canned response" });
  return h("div", { class: "inline-form canned-pick" }, pick, h("div", { class: "actions" }, insert));
}

function postForm(reference, threadName, text, reload, canned = []) {
  const key = idempotencyKey(); // one per message: a retried post cannot post it twice
  const body = field("body", text, { kind: "textarea", required: true, maxlength: 10000, rows: 3 });
  return form([cannedPicker(canned, body.control), body,
    field("file", "Attach an image or PDF (optional)", { kind: "file", accept: "image/*,application/pdf" })],
  threadName === "internal" ? "Add internal note" : "Send reply", async (v) => {
    const attachment_ids = [];
    if (v.file) {
      const data = new FormData();
      data.append("file", v.file);
      const a = await api.upload(`/support/tickets/${encodeURIComponent(reference)}/attachments`, data, { query: context.scope() });
      attachment_ids.push(a.id);
    }
    return api.post(`/support/tickets/${encodeURIComponent(reference)}/messages`, { thread: threadName, body: v.body, ...(attachment_ids.length ? { attachment_ids } : {}) },
      { query: context.scope(), headers: { "Idempotency-Key": key } });
  }, { onDone: () => { announce(threadName === "internal" ? "Internal note added" : "Reply sent"); reload(); } });
}

async function assignmentCard(t, reference, reload) {
  let agents;
  try { agents = await agentsList(); } catch (e) { if (isMissing(e)) return card("Assignment", unavailable("Assignment")); throw e; }
  const current = t.assignee_id || t.assignee?.user_id || t.assignee?.id || "";
  return card("Assignment", h("p", {}, "Assigned to: ", t.assignee ? who(t.assignee) : "nobody"),
    form([field("assignee_id", "Agent (open tickets)", { kind: "select", value: current, options: [["", "Nobody (unassign)"], ...agents.map((a) => [a.user_id, `${agentName(a)}: ${agentLoad(a)}`])] })],
      "Save assignment", (v) => api.put(`/support/tickets/${encodeURIComponent(reference)}/assignment`, { assignee_id: v.assignee_id || null }, { query: context.scope() }),
      { onDone: () => { announce("Assignment saved"); reload(); }, className: "inline-form" }));
}

async function ticketView({ user, path, navigate }) {
  const reference = path[0];
  const staff = STAFF.includes(user.role);
  const t = await api.get("/support/tickets/" + encodeURIComponent(reference), context.scope());
  const main = (t.messages || []).filter((m) => m.thread === "main");
  const internal = (t.messages || []).filter((m) => m.thread === "internal");
  const reload = () => navigate("/portal/support/" + encodeURIComponent(reference), { replaceState: true });
  const open = !DONE.includes(t.status);
  const q = `/support/tickets/${encodeURIComponent(reference)}`;
  let canned = [];
  if (staff && DESK.includes(user.role) && open) {
    try { canned = (await api.get("/support/canned-responses", context.scope())).items || []; } catch (e) { if (!isMissing(e) && e.status !== 403) throw e; }
  }

  const actions = [];
  if (staff && open && ASSIGNERS.includes(user.role)) actions.push(await assignmentCard(t, reference, reload));
  if (staff && !t.acknowledged_at && open) {
    actions.push(card("Acknowledge", form([
      field("remarks", "Reply to the person who raised it", { kind: "textarea", required: true, maxlength: 5000 }),
      field("eta", "Expected resolution (optional)", { kind: "datetime-local" }),
    ], "Acknowledge",
    (v) => api.post(`${q}/acknowledgement`, { remarks: v.remarks, ...(v.eta ? { eta: new Date(v.eta).toISOString() } : {}) }, { query: context.scope() }), { onDone: reload })));
  }
  // the team a ticket is with escalates it further: the merchant's desk, then platform support (or an admin)
  const level = t.escalation_level || "store_user";
  const mayEscalate = PLATFORM_DESK.includes(level) ? user.role === level || user.role === "admin" : DESK.includes(user.role);
  if (mayEscalate && open && level !== "it_support") {
    actions.push(card("Escalate", h("p", { class: "hint" }, "Up the chain: store → owner → platform support → IT support. The team it goes to joins the Internal thread."),
      form([field("reason", "Why", { kind: "textarea", required: true, maxlength: 2000 })], "Escalate",
        (v) => api.post(`${q}/escalation`, { reason: v.reason }, { query: context.scope() }), { onDone: () => { announce("Escalated"); reload(); } })));
  }
  if (staff && open) {
    const currency = t.currency || context.currency();
    actions.push(card("Resolve", form([
      h("div", { class: "row" }, field("action", "Resolution", { kind: "select", options: ACTIONS }), field("refund_amount", `Refund (${currency}, refunds only)`, { inputmode: "decimal" })),
      field("resolution", "What was done", { kind: "textarea", required: true, maxlength: 5000 }),
      field("remarks", "Remarks (optional)", { kind: "textarea", maxlength: 5000 }),
    ], "Resolve ticket", (v) => api.post(`${q}/resolution`,
      { action: v.action, resolution: v.resolution, ...(v.remarks ? { remarks: v.remarks } : {}),
        ...(v.action === "refund" && v.refund_amount ? { refund_amount: toMinor(v.refund_amount, currency) ?? v.refund_amount, currency } : {}) }, { query: context.scope() }), { onDone: reload })));
  }

  const threads = h("div", { class: "threads" },
    card("Main thread", h("p", { class: "hint" }, "With the person who raised it."), thread(reference, "Main", main), open ? postForm(reference, "main", "Reply", reload, canned) : null),
    staff ? card("Internal thread", h("p", { class: "hint" }, "Staff only: the person who raised the ticket does not see this."), thread(reference, "Internal", internal),
      open ? postForm(reference, "internal", "Internal note", reload, canned) : null) : null);

  const el = page(`${t.reference}: ${t.subject}`, null,
    h("p", {}, h("a", { href: "/portal/support", "data-link": "" }, "← Support queue")),
    card("Ticket", dl([
      ["Status", [badge(t.status), isOverdue(t) ? [" ", badge("overdue", "Overdue")] : null]], ["Priority", badge(t.priority)],
      ["Category", label(t.category) + (t.sub_category ? ` (${t.sub_category})` : "")],
      ["Store", await context.storeName(t.store_id)], ["References", refsOf(t)],
      t.delivery_type ? ["Delivery", label(t.delivery_type)] : null,
      t.issue_items?.length ? ["Items", t.issue_items.map((i) => `${i.quantity} × ${i.item}${i.order_value ? " (" + money(i.order_value, t.currency || context.currency()) + ")" : ""}`).join(", ")] : null,
      ["Raised by", who(t.raised_by)], ["Raised", dateTime(t.created_at)], t.source ? ["Source", label(t.source)] : null,
      ["Assigned to", t.assignee ? who(t.assignee) : "—"],
      ["Acknowledge by", dateTime(t.ack_due_at)], ["Acknowledged", dateTime(t.acknowledged_at)], t.eta ? ["ETA", dateTime(t.eta)] : null,
      t.escalation_level ? ["Escalated to", label(t.escalation_level)] : null,
      t.lsp_status ? ["Logistics partner", `${label(t.lsp_status)}${t.lsp_eta ? ", ETA " + dateTime(t.lsp_eta) : ""}`] : null,
      t.resolution ? ["Resolution", `${label(t.resolution.action)}: ${t.resolution.resolution}`] : null,
      t.resolved_at ? ["Resolved", dateTime(t.resolved_at)] : null,
      t.description ? ["Description", t.description] : null,
      t.attachments?.length ? ["Attachments", t.attachments.map((a) => [attachmentLink(reference, a), " "])] : null,
    ])),
    threads,
    ...actions,
    staff && t.audit ? card("Audit log", auditList(t.audit)) : null);
  el.classList.add("ticket");
  return el;
}

// -- the chat inbox -----------------------------------------------------------------------------
function chatList({ user, navigate }) {
  if (!CHAT.includes(user.role)) return page("Support", null, h("p", { class: "notice" }, "The chat inbox is the merchant team's: it is not part of your role."));
  return page("Support", "Conversations with customers from the buyer app and the storefront widget.",
    deskTabs(user, "chat", navigate),
    card("Chat inbox", pagedTable([
      { title: "Started", cell: (c) => h("a", { href: "/portal/support/chat/" + c.id, "data-link": "" }, dateTime(c.created_at)) },
      { title: "Customer", cell: (c) => c.customer_id ? h("a", { href: "/portal/customers/" + c.customer_id, "data-link": "" }, "Customer " + String(c.customer_id).slice(0, 8)) : "—" },
      { title: "Last message", cell: (c) => dateTime(c.last_message_at) },
      { title: "Status", cell: (c) => badge(c.status) },
      { title: "Ticket", cell: (c) => c.ticket_reference ? link(c.ticket_reference) : "—" },
    ], (cursor) => api.get("/support/conversations", context.scope({ cursor, limit: 25 })), { caption: "Conversations", emptyText: "No conversations.", missing: "The chat inbox" })));
}

async function chatView({ user, path, navigate }) {
  const id = path[1];
  const c = await api.get("/support/conversations/" + id, context.scope());
  const reload = () => navigate("/portal/support/chat/" + id, { replaceState: true });
  const messages = c.messages || [];
  return page("Conversation", null,
    h("p", {}, h("a", { href: "/portal/support/chat", "data-link": "" }, "← Chat inbox")),
    card("Conversation", dl([["Customer", c.customer_id ? h("a", { href: "/portal/customers/" + c.customer_id, "data-link": "" }, "Customer " + String(c.customer_id).slice(0, 8)) : "—"], ["Status", badge(c.status)], ["Started", dateTime(c.created_at)],
      c.ticket_reference ? ["Ticket", link(c.ticket_reference)] : null]),
    messages.length ? h("ol", { class: "thread" }, messages.map((m) => h("li", { class: "message" }, h("p", { class: "meta" }, m.author_kind === "customer" ? "Customer" : m.author_kind === "system" ? "VowRewards" : who(m.author), " · ", dateTime(m.created_at)), h("p", { class: "body" }, m.body))))
      : empty("No messages yet."),
    c.status !== "closed" ? form([field("body", "Reply", { kind: "textarea", required: true, maxlength: 5000 })], "Send",
      (v) => api.post(`/support/conversations/${id}/messages`, { body: v.body }, { query: context.scope() }), { onDone: reload }) : null),
    !c.ticket_reference && STAFF.includes(user.role) ? card("Turn into a ticket", form([
      field("subject", "Subject", { required: true, maxlength: 200 }),
      h("div", { class: "row" }, field("category", "Category", { kind: "select", options: CATEGORIES.map((s) => [s, label(s)]) }), field("priority", "Priority", { kind: "select", value: "normal", options: PRIORITIES.map((s) => [s, label(s)]) })),
    ], "Create ticket", (v) => api.post(`/support/conversations/${id}/ticket`, v, { query: context.scope() }), { onDone: (t) => navigate("/portal/support/" + encodeURIComponent(t.reference)) })) : null);
}

// -- the desk's settings: SLA policies, canned responses, agents -------------------------------------
function deskTabs(user, selected, navigate) {
  const items = [["queue", "Queue"], CHAT.includes(user.role) && ["chat", "Chat inbox"], CANNED.includes(user.role) && ["canned", "Canned responses"],
    DESK_OWNERS.includes(user.role) && ["sla", "SLA policies"], DESK_OWNERS.includes(user.role) && ["agents", "Agents"]].filter(Boolean);
  return items.length > 1 ? tabs(items, selected, (k) => navigate("/portal/support" + (k === "queue" ? "" : "/" + k))) : null;
}

function deskPage(user, tab, roles, intro, navigate, render) {
  if (!roles.includes(user.role)) return page("Support", null, h("p", { class: "notice" }, "This part of the support desk is not part of your role."));
  return page("Support", intro, deskTabs(user, tab, navigate), h("div", { role: "tabpanel" }, optional("This setting", render)));
}

const minutes = (m) => m === null || m === undefined ? "—" : m % 1440 === 0 ? `${m / 1440} d` : m % 60 === 0 ? `${m / 60} h` : `${m} min`;

// the whole settings object back, as read, with what changed: the API sets them in one PUT
async function saveSettings(settings, changes) {
  const { merchant_id, ...rest } = settings;
  return api.put("/support/sla-policies", { ...rest, ...changes, ...context.scope() });
}

function slaPolicies({ user, navigate, query }) {
  const reload = () => navigate("/portal/support/sla", { replaceState: true });
  return deskPage(user, "sla", DESK_OWNERS, "How fast the desk answers and resolves, by priority and category: the clock that marks tickets overdue.", navigate, async () => {
    const settings = await api.get("/support/sla-policies", context.scope());
    const policies = settings.policies || [];
    const editing = query.get("edit") !== null && policies[Number(query.get("edit"))] ? Number(query.get("edit")) : null;
    const p = editing === null ? {} : policies[editing];
    const list = policies.length ? table([
      { title: "Priority", cell: (x) => badge(x.priority) },
      { title: "Category", cell: (x) => x.category ? label(x.category) : "Every category" },
      { title: "First response", cell: (x) => minutes(x.first_response_minutes), class: "num" },
      { title: "Next response", cell: (x) => minutes(x.next_response_minutes), class: "num" },
      { title: "Resolution", cell: (x) => minutes(x.resolution_minutes), class: "num" },
      { title: "", cell: (x) => {
        const i = policies.indexOf(x), name = `${label(x.priority)} ${x.category ? label(x.category) : "every category"}`;
        return h("span", { class: "row-actions" },
          button("Edit", () => navigate(`/portal/support/sla?edit=${i}`), { class: "secondary small", label: "Edit policy " + name }),
          confirmButton("Remove", { ask: "Remove this policy?", yes: "Yes, remove", label: "Remove policy " + name,
            act: async () => { await saveSettings(settings, { policies: policies.filter((_, k) => k !== i) }); announce("Policy removed"); reload(); } }));
      } },
    ], policies, "SLA policies") : empty("No policies yet: the desk's defaults apply.");
    const num = (v) => v === "" ? null : Number(v);
    const edit = form([
      h("div", { class: "row" },
        field("priority", "Priority", { kind: "select", value: p.priority || "normal", options: PRIORITIES.map((x) => [x, label(x)]) }),
        field("category", "Category", { kind: "select", value: p.category || "", options: [["", "Every category"], ...CATEGORIES.map((x) => [x, label(x)])] })),
      h("div", { class: "row" },
        field("first_response_minutes", "First response (minutes)", { kind: "number", required: true, min: 1, step: 1, value: p.first_response_minutes ?? "" }),
        field("next_response_minutes", "Next response (minutes, optional)", { kind: "number", min: 1, step: 1, value: p.next_response_minutes ?? "" }),
        field("resolution_minutes", "Resolution (minutes, optional)", { kind: "number", min: 1, step: 1, value: p.resolution_minutes ?? "" })),
    ], editing === null ? "Add policy" : "Save policy", (v) => {
      const policy = { priority: v.priority, category: v.category || null, first_response_minutes: num(v.first_response_minutes),
        next_response_minutes: num(v.next_response_minutes), resolution_minutes: num(v.resolution_minutes) };
      const next = editing === null ? [...policies, policy] : policies.map((x, k) => (k === editing ? policy : x));
      return saveSettings(settings, { policies: next });
    }, { onDone: () => { announce("SLA policy saved"); navigate("/portal/support/sla", { replaceState: true }); },
      cancel: editing === null ? null : button("Cancel", reload, { class: "secondary" }) });
    return h("div", {}, card("SLA policies", list,
      h("p", { class: "hint" }, `Times count in business hours (${settings.hours ? "as set" : "around the clock"}), in ${settings.timezone || "UTC"}.`)),
    card(editing === null ? "Add an SLA policy" : "Edit an SLA policy", edit));
  });
}

function cannedResponses({ user, navigate, query }) {
  const reload = () => navigate("/portal/support/canned", { replaceState: true });
  return deskPage(user, "canned", CANNED, "Replies the team reuses: insert one into a ticket's reply and edit it there.", navigate, async () => {
    const items = (await api.get("/support/canned-responses", context.scope())).items || [];
    const editing = items.find((c) => c.id === query.get("edit")) || null;
    const key = idempotencyKey(); // a retried add cannot add it twice
    const list = items.length ? table([
      { title: "Title", cell: (c) => c.title },
      { title: "Text", cell: (c) => h("span", { class: "canned-body" }, c.body) },
      { title: "", cell: (c) => h("span", { class: "row-actions" },
        button("Edit", () => navigate(`/portal/support/canned?edit=${c.id}`), { class: "secondary small", label: "Edit " + c.title }),
        confirmButton("Delete", { ask: "Delete this canned response?", yes: "Yes, delete", label: "Delete " + c.title,
          act: async () => { await api.send("DELETE", `/support/canned-responses/${c.id}`, { query: context.scope() }); announce("Canned response deleted"); reload(); } })) },
    ], items, "Canned responses") : empty("No canned responses yet.");
    const save = (v) => editing
      ? api.put(`/support/canned-responses/${editing.id}`, { title: v.title, body: v.body, ...context.scope() })
      : api.post("/support/canned-responses", { title: v.title, body: v.body, ...context.scope() }, { headers: { "Idempotency-Key": key } });
    return h("div", {}, card("Canned responses", list),
      card(editing ? "Edit a canned response" : "Add a canned response", form([
        field("title", "Title", { required: true, maxlength: 120, value: editing ? editing.title : "" }),
        field("body", "Text", { kind: "textarea", required: true, rows: 4, maxlength: 10000, value: editing ? editing.body : "" }),
      ], editing ? "Save canned response" : "Add canned response", save,
      { onDone: () => { announce(editing ? "Canned response saved" : "Canned response added"); reload(); },
        cancel: editing ? button("Cancel", reload, { class: "secondary" }) : null })));
  });
}

function agentRow(a, after) {
  const out = h("span", { "aria-live": "polite" });
  const capacity = h("input", { type: "number", min: 0, max: 1000, step: 1, value: a.capacity ?? "", "aria-label": "Capacity of " + a.username, class: "capacity" });
  const available = h("input", { type: "checkbox", checked: a.available !== false, "aria-label": a.username + " is available" });
  const save = button("Save", async () => {
    save.disabled = true;
    try {
      await api.patch(`/support/agents/${a.user_id}`, { available: available.checked, ...(capacity.value !== "" ? { capacity: Number(capacity.value) } : {}), ...context.scope() });
      announce(`${a.username} saved`); after();
    } catch (e) { save.disabled = false; out.replaceChildren(errorBox(e)); }
  }, { class: "secondary small", label: "Save " + a.username });
  return { capacity, available, actions: h("span", { class: "row-actions" }, save, out) };
}

function agents({ user, navigate }) {
  const reload = () => navigate("/portal/support/agents", { replaceState: true });
  return deskPage(user, "agents", DESK_OWNERS, "Who takes tickets, how many each may hold, who is away, and how new tickets are shared out.", navigate, async () => {
    const [list, settings] = await Promise.all([agentsList(), api.get("/support/sla-policies", context.scope())]);
    const rows = list.map((a) => ({ a, ...agentRow(a, reload) }));
    return h("div", {},
      card("Agents", rows.length ? table([
        { title: "Agent", cell: (r) => agentName(r.a) },
        { title: "Role", cell: (r) => label(r.a.role) },
        { title: "Open tickets", cell: (r) => String(r.a.open_tickets ?? 0), class: "num" },
        { title: "Capacity", cell: (r) => r.capacity },
        { title: "Available", cell: (r) => r.available },
        { title: "", cell: (r) => r.actions },
      ], rows, "Agents") : empty("No agents yet: add support agents under Settings, Users."),
      h("p", { class: "hint" }, "Capacity: the open tickets automatic assignment gives an agent at most. An agent who is away gets none.")),
      card("Automatic assignment", form([
        field("assignment_mode", "New tickets go to", { kind: "select", value: settings.assignment_mode || "off", options: MODES }),
      ], "Save assignment mode", (v) => saveSettings(settings, { assignment_mode: v.assignment_mode }),
      { onDone: () => { announce("Assignment mode saved"); reload(); }, className: "inline-form" })));
  });
}

export default function support(ctx) {
  if (ctx.path[0] === "sla") return slaPolicies(ctx);
  if (ctx.path[0] === "canned") return cannedResponses(ctx);
  if (ctx.path[0] === "agents") return agents(ctx);
  if (ctx.path[0] === "chat") return ctx.path[1] ? chatView(ctx) : chatList(ctx);
  return ctx.path.length ? ticketView(ctx) : queue(ctx);
}
