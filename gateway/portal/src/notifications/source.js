// Where inbox updates come from: the API's server-sent-events stream (GET /notifications/stream,
// read with fetch so the token travels in the Authorization header, never in a URL), resumed from
// the last event id after a drop; every event refreshes the list and the unread count. A server
// without the stream is polled instead. Callers get `onUpdate({items, unread_count, live})` and `stop()`.
import { api } from "../core/api.js";

const POLL_MS = 20000;
const RETRY_MS = [1000, 2000, 5000, 10000, 30000];

export function inboxSource(onUpdate, { limit = 20 } = {}) {
  let timer = null;
  let stopped = false;
  let streaming = false;
  let polling = false; // the server has no stream
  let controller = null;
  let lastId = null;
  let failures = 0;
  let fetching = null;

  async function load() {
    if (stopped) return;
    if (!fetching) fetching = api.get("/notifications", { limit }).then((data) => { if (!stopped) onUpdate({ ...data, live: streaming }); }).catch(() => {}).finally(() => { fetching = null; });
    return fetching;
  }

  async function poll() {
    if (stopped) return;
    await load();
    if (!stopped) timer = setTimeout(poll, document.hidden ? POLL_MS * 3 : POLL_MS);
  }

  // SSE framing: events end with a blank line; `id:` sets the resume point; `:` lines are heartbeats
  function parse(buffer, onEvent) {
    let at;
    while ((at = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const raw = buffer.slice(0, at);
      buffer = buffer.slice(at).replace(/^\r?\n\r?\n/, "");
      const event = { type: "message", data: [] };
      for (const line of raw.split(/\r?\n/)) {
        if (!line || line.startsWith(":")) continue;
        const [key, ...rest] = line.split(":");
        const value = rest.join(":").replace(/^ /, "");
        if (key === "id") lastId = value; else if (key === "event") event.type = value; else if (key === "data") event.data.push(value);
      }
      if (event.data.length || event.type !== "message") onEvent(event);
    }
    return buffer;
  }

  async function stream() {
    controller = new AbortController();
    let response;
    try {
      response = await api.send("GET", "/notifications/stream", { raw: true, signal: controller.signal,
        headers: { Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": lastId } : {}) } });
    } catch (e) {
      if (stopped || e?.name === "AbortError") return;
      if (e?.status === 404 || e?.status === 405) { polling = true; poll(); return; } // no stream here: poll
      return retry();
    }
    streaming = true;
    failures = 0;
    load();
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = parse(buffer + decoder.decode(value, { stream: true }), (event) => { if (event.type !== "heartbeat" && event.type !== "ping") load(); });
      }
    } catch (e) { /* dropped: retried below */ }
    if (!stopped) retry();
  }

  function retry() {
    streaming = false;
    const wait = RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)];
    timer = setTimeout(stream, wait);
  }

  const wake = () => {
    if (document.hidden || stopped) return;
    if (polling) { clearTimeout(timer); poll(); } else load();
  };
  document.addEventListener("visibilitychange", wake);
  load();
  stream();
  return {
    refresh: () => load(),
    live: () => streaming,
    stop() { stopped = true; clearTimeout(timer); controller?.abort(); document.removeEventListener("visibilitychange", wake); },
  };
}
