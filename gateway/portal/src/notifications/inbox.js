// The inbox state shared by the header badge and the Inbox page.
import { api } from "../core/api.js";
import { inboxSource } from "./source.js";

let source = null;
let latest = { items: [], unread_count: 0 };
const listeners = new Set();

export function startInbox() {
  stopInbox();
  source = inboxSource((data) => { latest = data; listeners.forEach((fn) => fn(latest)); });
}
export function stopInbox() { source?.stop(); source = null; latest = { items: [], unread_count: 0 }; }
export function onInbox(fn) { listeners.add(fn); fn(latest); return () => listeners.delete(fn); }
export const inbox = () => latest;
export async function markRead(id) { await api.post(`/notifications/${id}/read`); source?.refresh(); }
export async function markAllRead() { await api.post("/notifications/read-all"); source?.refresh(); }
