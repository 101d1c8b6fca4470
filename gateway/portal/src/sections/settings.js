// Settings: the merchant's stores and users (owners; admins for any merchant), the platform's users
// (admins), and your own password. API clients, webhooks and notification preferences come with their API.
import { api } from "../core/api.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime, label, who } from "../core/format.js";
import { announce, async, badge, button, card, errorBox, field, form, page, pagedTable, tabs } from "../core/ui.js";
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

export default function settings(ctx) {
  const role = ctx.user.role;
  const manages = (role === "owner" || role === "admin") && context.merchant();
  const items = [["password", "Your password"], manages && ["stores", "Stores"], manages && ["users", "Users"], role === "admin" && ["platform", "Platform users"]].filter(Boolean);
  const tab = items.some(([k]) => k === ctx.path[0]) ? ctx.path[0] : items.length > 1 ? items[1][0] : "password";
  const body = { password, stores, users, platform: platformUsers }[tab](ctx);
  return page("Settings", manages ? `${context.merchant().name}: stores, users and your password.` : "Your password.",
    items.length > 1 ? tabs(items, tab, (k) => ctx.navigate("/portal/settings/" + k)) : null,
    h("div", { role: items.length > 1 ? "tabpanel" : null }, async(() => body)));
}
