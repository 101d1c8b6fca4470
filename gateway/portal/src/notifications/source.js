// Where inbox updates come from. Today: polling GET /notifications. When the API has its
// server-sent-events stream (/api/v1/notifications/stream), only this module changes: it keeps
// calling `onUpdate({items, unread_count})` and `stop()` ends it.
import { api } from "../core/api.js";

const POLL_MS = 20000;

export function inboxSource(onUpdate, { limit = 20 } = {}) {
  let timer = null;
  let stopped = false;
  async function poll() {
    if (stopped) return;
    try { onUpdate(await api.get("/notifications", { limit })); } catch (e) { /* the next poll tries again */ }
    if (!stopped) timer = setTimeout(poll, document.hidden ? POLL_MS * 3 : POLL_MS);
  }
  const wake = () => { if (!document.hidden && !stopped) { clearTimeout(timer); poll(); } };
  document.addEventListener("visibilitychange", wake);
  poll();
  return {
    refresh: wake,
    stop() { stopped = true; clearTimeout(timer); document.removeEventListener("visibilitychange", wake); },
  };
}
