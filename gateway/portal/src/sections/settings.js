// Settings: the merchant's stores and users, API clients and webhooks (owners; admins for any
// merchant), the platform's users (admins), your notification preferences and your password.
import { api } from "../core/api.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime, label, who } from "../core/format.js";
import { announce, async, badge, button, card, confirmButton, dl, empty, errorBox, field, form, isMissing, page, pagedTable, tabs, unavailable } from "../core/ui.js";
import { isPlatform, signOut } from "../core/session.js";

const MERCHANT_ROLES = [["owner", "Owner"], ["store_user", "Store user"], ["support_agent", "Support agent"], ["finance", "Finance"]];
const PLATFORM_ROLES = [["admin", "Admin"], ["platform_finance", "Platform finance"], ["platform_support", "Platform support"], ["it_support", "IT support"]];

function password() {
  return card("Your password", h("p", { class: "hint" }, "Changing it signs you out everywhere, this page included."), form([
    field("current_password", "Current password", { kind: "password", required: true, autocomplete: "current-password" }),
    field("new_password", "New password", { kind: "password", required: true, autocomplete: "new-password", hint: "At least 10 characters." }),
  ], "Change password", (v) => api.post("/me/password", v), { onDone: () => signOut() }));
}

async function stores({ navigate }) {
  const m = context.merchant();
  return h("div", {},
    pagedTable([{ title: "Store", cell: (s) => s.name }, { title: "Kind", cell: (s) => label(s.kind) }, { title: "Address", cell: (s) => s.address || "—" }],
      (cursor) => api.get(`/merchants/${m.id}/stores`, { cursor, limit: 100 }), { caption: "Stores" }),
    card("Add a store", form([
      h("div", { class: "row" }, field("name", "Name", { required: true, maxlength: 120 }),
        field("kind", "Kind", { kind: "select", options: [["store", "Store"], ["kiosk", "Kiosk"], ["outlet", "Outlet"], ["online", "Online"]] })),
      field("address", "Address (optional)", { maxlength: 300 }),
    ], "Add store", (v) => api.post(`/merchants/${m.id}/stores`, Object.fromEntries(Object.entries(v).filter(([, x]) => x))),
    { onDone: () => { context.forgetStores(); navigate("/portal/settings/stores", { replaceState: true }); } })));
}

function userActions(u, storesList, reload) {
  const out = h("span", { "aria-live": "polite" });
  const patch = async (body, text) => {
    try { await api.patch(`/users/${u.id}`, body); announce(text); reload(); } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  return h("span", { class: "row-actions" },
    button(u.active ? "Disable" : "Enable", () => patch({ active: !u.active }, u.active ? "User disabled" : "User enabled"), { class: "secondary small", label: `${u.active ? "Disable" : "Enable"} ${u.username}` }),
    out);
}

async function users({ user, navigate }) {
  const m = context.merchant();
  const storesList = await context.stores();
  const names = Object.fromEntries(storesList.map((s) => [s.id, s.name]));
  const reload = () => navigate("/portal/settings/users", { replaceState: true });
  return h("div", {},
    pagedTable([
      { title: "User", cell: (u) => u.username + (u.display_name ? ` (${u.display_name})` : "") },
      { title: "Role", cell: (u) => label(u.role) }, { title: "Store", cell: (u) => u.store_id ? names[u.store_id] || "—" : "—" },
      { title: "Status", cell: (u) => badge(u.active ? "active" : "disabled") }, { title: "Last sign-in", cell: (u) => dateTime(u.last_login_at) },
      { title: "", cell: (u) => u.id === user.id ? "You" : userActions(u, storesList, reload) },
    ], (cursor) => api.get(`/merchants/${m.id}/users`, { cursor, limit: 100 }), { caption: "Users" }),
    card("Add a user", form([
      h("div", { class: "row" }, field("username", "Username", { required: true, maxlength: 64, hint: "3-64 of A-Z a-z 0-9 . _ @ -" }), field("display_name", "Name (optional)", { maxlength: 120 })),
      h("div", { class: "row" }, field("role", "Role", { kind: "select", options: MERCHANT_ROLES }),
        field("store_id", "Store (store users)", { kind: "select", options: [["", "—"], ...storesList.map((s) => [s.id, s.name])] })),
      h("div", { class: "row" }, field("password", "First password", { kind: "password", required: true, autocomplete: "new-password" }), field("email", "Email (optional)", { kind: "email" })),
    ], "Add user", (v) => api.post(`/merchants/${m.id}/users`, Object.fromEntries(Object.entries(v).filter(([, x]) => x))), { onDone: reload })),
    card("Changes to users", pagedTable([
      { title: "When", cell: (a) => dateTime(a.at) }, { title: "User", cell: (a) => a.username }, { title: "What", cell: (a) => label(a.action) },
      { title: "Changes", cell: (a) => Object.entries(a.changes || {}).map(([k, [from, to]]) => `${label(k)}: ${from ?? "—"} → ${to ?? "—"}`).join("; ") || "—" },
      { title: "By", cell: (a) => who(a.actor) },
    ], (cursor) => api.get(`/merchants/${m.id}/user-audit`, { cursor, limit: 50 }), { caption: "User audit" })));
}

function platformUsers({ navigate }) {
  const reload = () => navigate("/portal/settings/platform", { replaceState: true });
  return h("div", {},
    pagedTable([{ title: "User", cell: (u) => u.username }, { title: "Role", cell: (u) => label(u.role) }, { title: "Status", cell: (u) => badge(u.active ? "active" : "disabled") }],
      (cursor) => api.get("/platform/users", { cursor, limit: 100 }), { caption: "Platform users" }),
    card("Add a platform user", form([
      h("div", { class: "row" }, field("username", "Username", { required: true }), field("role", "Role", { kind: "select", options: PLATFORM_ROLES })),
      field("password", "First password", { kind: "password", required: true, autocomplete: "new-password" }),
    ], "Add platform user", (v) => api.post("/platform/users", v), { onDone: reload })));
}

// a secret the API shows once: copied now or never
function secretOnce(title, pairs) {
  return h("div", { class: "secret-once", role: "status" }, h("h3", {}, title),
    h("p", {}, "Copy it now: it is shown this once and only its hash is kept."), dl(pairs.map(([k, v]) => [k, h("code", {}, v)])));
}

const CLIENT_KINDS = [["pos", "POS terminal (one store)"], ["buyer_app", "Buyer app"], ["logistics_partner", "Logistics partner"]];

// the first page, or null when this server has no such API (the page then says so, and offers no form)
async function probe(path) {
  try { return await api.get(path, context.scope({ limit: 1 })); } catch (e) { if (isMissing(e)) return null; throw e; }
}

async function apiClients() {
  if (!await probe("/api-clients")) return unavailable("API clients");
  const m = context.merchant();
  const storesList = await context.stores();
  const names = Object.fromEntries(storesList.map((s) => [s.id, s.name]));
  const shown = h("div", { "aria-live": "polite" });
  const list = pagedTable([
    { title: "Name", cell: (c) => c.name }, { title: "Kind", cell: (c) => label(c.kind) },
    { title: "Store", cell: (c) => c.store_id ? names[c.store_id] || "—" : "—" },
    { title: "Client id", cell: (c) => h("code", {}, c.client_id) },
    { title: "Last used", cell: (c) => dateTime(c.last_used_at) },
    { title: "Status", cell: (c) => badge(c.revoked_at ? "revoked" : "active") },
    { title: "", cell: (c) => c.revoked_at ? null : clientActions(c, shown, () => list.reload()) },
  ], (cursor) => api.get("/api-clients", context.scope({ cursor, limit: 100 })), { caption: "API clients", emptyText: "No API clients yet.", missing: "API clients" });
  return h("div", {}, shown, list,
    card("Register an API client", h("p", { class: "hint" }, "A till that redeems without a person's password, a buyer app acting for your customers, or a logistics partner following the tickets cascaded to it."),
      form([
        h("div", { class: "row" }, field("name", "Name", { required: true, maxlength: 120 }), field("kind", "Kind", { kind: "select", options: CLIENT_KINDS })),
        field("store_id", "Store (POS terminals)", { kind: "select", options: [["", "—"], ...storesList.map((s) => [s.id, s.name])] }),
      ], "Register client", (v) => api.post("/api-clients", { name: v.name, kind: v.kind, ...(v.store_id ? { store_id: v.store_id } : {}) }, { query: context.scope() }),
      { onDone: (c) => { list.reload(); shown.replaceChildren(secretOnce(`New client “${c.name}”`, [["Client id", c.client_id], ["Client secret", c.client_secret]])); announce("Client registered"); } })),
    h("p", { class: "hint" }, `Machines of ${m.name} sign in at POST /api/v1/auth/token with {"grant_type": "client_credentials", "client_id", "client_secret"}.`));
}

function clientActions(c, shown, reload) {
  const out = h("span", { "aria-live": "polite" });
  return h("span", { class: "row-actions" },
    button("Rotate secret", async () => {
      try {
        const r = await api.post(`/api-clients/${c.client_id}/secret`, undefined, { query: context.scope() });
        shown.replaceChildren(secretOnce(`New secret for “${c.name}”`, [["Client id", r.client_id], ["Client secret", r.client_secret],
          ["Old secret works until", dateTime(r.previous_secret_valid_until)]]));
        announce("Secret rotated");
      } catch (e) { out.replaceChildren(errorBox(e)); }
    }, { class: "secondary small", label: "Rotate secret of " + c.name }),
    confirmButton("Revoke", { label: "Revoke " + c.name, ask: `Revoke “${c.name}”? It stops working at once, everywhere.`, yes: "Yes, revoke",
      act: async () => { await api.send("DELETE", `/api-clients/${c.client_id}`, { query: context.scope() }); announce("Client revoked"); reload(); } }), out);
}

const EVENT_TYPES = ["support.ticket_created", "support.ticket_assigned", "support.ticket_acknowledged", "support.message_posted",
  "support.ticket_escalated", "support.ticket_overdue", "support.ticket_resolved", "settlement.batch_closed", "settlement.exception_raised",
  "settlement.exception_resolved", "settlement.payout_account_confirmed", "campaign.budget_exhausted", "redemption.voucher_redeemed",
  "redemption.redemption_reversed"];

function webhookActions(w, shown, reload) {
  const out = h("span", { "aria-live": "polite" });
  return h("span", { class: "row-actions" },
    h("a", { href: "/portal/settings/webhooks/" + w.id, "data-link": "", class: "small" }, "Deliveries"),
    button("Rotate secret", async () => {
      try {
        const r = await api.post(`/webhooks/${w.id}/secret`, undefined, { query: context.scope() });
        shown.replaceChildren(secretOnce(`New signing secret for ${w.url}`, [["Secret", r.secret], r.previous_secret_valid_until ? ["Old secret signs until", dateTime(r.previous_secret_valid_until)] : null].filter(Boolean)));
        announce("Webhook secret rotated");
      } catch (e) { out.replaceChildren(errorBox(e)); }
    }, { class: "secondary small", label: "Rotate secret of " + w.url }),
    w.status === "disabled" ? button("Enable", async () => {
      try { await api.patch(`/webhooks/${w.id}`, { active: true }, { query: context.scope() }); announce("Webhook enabled"); reload(); }
      catch (e) { out.replaceChildren(errorBox(e)); }
    }, { class: "secondary small", label: "Enable webhook to " + w.url }) : null,
    confirmButton("Delete", { label: "Delete webhook to " + w.url, ask: `Delete the webhook to ${w.url}?`, yes: "Yes, delete",
      act: async () => { await api.send("DELETE", `/webhooks/${w.id}`, { query: context.scope() }); announce("Webhook deleted"); reload(); } }), out);
}

async function webhookDeliveries({ path }) {
  const id = path[1];
  const out = h("div", { "aria-live": "polite" });
  const list = pagedTable([
    { title: "When", cell: (d) => dateTime(d.delivered_at || d.created_at) }, { title: "Event", cell: (d) => d.event_type },
    { title: "Status", cell: (d) => badge(d.status) }, { title: "Attempts", cell: (d) => String(d.attempts ?? "—"), class: "num" },
    { title: "Last error", cell: (d) => d.last_error || "—" },
    { title: "", cell: (d) => button("Replay", async () => {
      try { await api.post(`/webhooks/deliveries/${d.id}/replay`, undefined, { query: context.scope() }); announce("Delivery replayed"); list.reload(); }
      catch (e) { out.replaceChildren(errorBox(e)); }
    }, { class: "secondary small", label: "Replay delivery of " + d.event_type }) },
  ], (cursor) => api.get("/webhooks/deliveries", context.scope({ endpoint_id: id, channel: "webhook", cursor, limit: 50 })), { caption: "Deliveries", emptyText: "Nothing delivered yet.", missing: "Webhook deliveries" });
  return h("div", {}, h("p", {}, h("a", { href: "/portal/settings/webhooks", "data-link": "" }, "← Webhooks")), card("Deliveries", out, list));
}

async function webhooks(ctx) {
  if (ctx.path[1]) return webhookDeliveries(ctx);
  if (!await probe("/webhooks")) return unavailable("Webhooks");
  const shown = h("div", { "aria-live": "polite" });
  const list = pagedTable([
    { title: "URL", cell: (w) => h("code", {}, w.url) }, { title: "Events", cell: (w) => (w.events || []).join(", ") },
    { title: "Status", cell: (w) => [badge(w.status), w.disabled_reason ? ` ${w.disabled_reason}` : ""] },
    { title: "", cell: (w) => webhookActions(w, shown, () => list.reload()) },
  ], (cursor) => api.get("/webhooks", context.scope({ cursor, limit: 100 })), { caption: "Webhooks", emptyText: "No webhooks yet.", missing: "Webhooks" });
  const events = h("fieldset", { class: "checks" }, h("legend", {}, "Events to send"),
    EVENT_TYPES.map((t) => field("event:" + t, t, { kind: "checkbox" })));
  return h("div", {}, shown, list,
    card("Register a webhook", h("p", { class: "hint" }, "Each delivery is signed: VowRewards-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of “t.body”> with the endpoint's secret."),
      form([field("url", "HTTPS URL", { required: true, kind: "url", maxlength: 2000, placeholder: "https://example.com/hooks/vowrewards" }), events],
        "Register webhook", (v) => {
          const chosen = EVENT_TYPES.filter((t) => v["event:" + t]);
          return api.post("/webhooks", { url: v.url, events: chosen }, { query: context.scope() });
        }, { onDone: (w) => { list.reload(); if (w.secret) shown.replaceChildren(secretOnce(`Signing secret for ${w.url}`, [["Secret", w.secret]])); announce("Webhook registered"); } })));
}

// preferences: every kind on every channel is on unless switched off; the API lists the kinds, the
// channels and what was switched
async function notifications() {
  let data;
  try { data = await api.get("/notifications/preferences"); } catch (e) { if (isMissing(e)) return unavailable("Notification preferences"); throw e; }
  const { kinds = [], channels = [] } = data;
  const switched = Object.fromEntries((data.items || []).map((p) => [`${p.kind}|${p.channel}`, p.enabled]));
  const on = (k, c) => switched[`${k}|${c}`] ?? true;
  if (!kinds.length) return empty("No notification kinds to choose from.");
  const grid = h("div", { class: "table-wrap", role: "region", "aria-label": "Notification preferences", tabindex: "0" },
    h("table", {}, h("caption", { class: "sr-only" }, "Which notifications reach you, per channel"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Notification"), channels.map((c) => h("th", { scope: "col" }, label(c))))),
      h("tbody", {}, kinds.map((k) => h("tr", {}, h("th", { scope: "row" }, label(k.replace(".", ": "))), channels.map((c) => h("td", { "data-title": label(c) },
        h("input", { type: "checkbox", name: `${k}|${c}`, checked: on(k, c), "aria-label": `${label(k.replace(".", ": "))} by ${label(c)}` }))))))));
  return card("Your notifications", h("p", { class: "hint" }, "What reaches you, and how. Everything is on until you switch it off."),
    form([grid], "Save preferences", (v) => api.put("/notifications/preferences", {
      items: kinds.flatMap((k) => channels.map((c) => ({ kind: k, channel: c, enabled: !!v[`${k}|${c}`] }))),
    }), { onDone: () => announce("Preferences saved") }));
}

// the merchant's email: the name mail comes from, its reply-to, and the support address mail to which becomes a ticket
async function email({ navigate }) {
  let m;
  try { m = await api.get("/notifications/mail-settings", context.scope()); } catch (e) { if (isMissing(e)) return unavailable("Email settings"); throw e; }
  return h("div", {},
    card("Support address", m.support_address ? h("p", {}, "Mail to ", h("code", {}, m.support_address), " becomes a ticket; replies to a ticket's mail go on its Main thread.") : empty("No support address yet.")),
    card("How email looks", form([
      field("display_name", "Sender name", { value: m.display_name || "", maxlength: 100 }),
      field("reply_to", "Reply-to address", { kind: "email", value: m.reply_to || "" }),
      field("support_local", "Support address name (before the @)", { value: m.support_local || "", maxlength: 30, hint: "2-30 of a-z 0-9 . -" }),
    ], "Save email settings", (v) => api.put("/notifications/mail-settings", { display_name: v.display_name || null, reply_to: v.reply_to || null, support_local: v.support_local || null }, { query: context.scope() }),
    { onDone: () => { announce("Email settings saved"); navigate("/portal/settings/email", { replaceState: true }); } })));
}

export default function settings(ctx) {
  const role = ctx.user.role;
  const manages = (role === "owner" || role === "admin") && context.merchant();
  const inbox = ["owner", "store_user", "support_agent", "finance", "admin"].includes(role); // who has an inbox to tune
  const items = [["password", "Your password"], inbox && ["notifications", "Notifications"], manages && ["stores", "Stores"], manages && ["users", "Users"],
    manages && ["api-clients", "API clients"], manages && ["webhooks", "Webhooks"], manages && ["email", "Email"], role === "admin" && ["platform", "Platform users"]].filter(Boolean);
  const tab = items.some(([k]) => k === ctx.path[0]) ? ctx.path[0] : items.length > 1 ? items[1][0] : "password";
  const body = { password, notifications, stores, users, "api-clients": apiClients, webhooks, email, platform: platformUsers }[tab](ctx);
  return page("Settings", manages ? `${context.merchant().name}: stores, users, machines, webhooks and your own settings.` : inbox ? "Your notifications and password." : "Your password.",
    items.length > 1 ? tabs(items, tab, (k) => ctx.navigate("/portal/settings/" + k)) : null,
    h("div", { role: items.length > 1 ? "tabpanel" : null }, async(() => body)));
}
