// The inbox: newest first, unread marked; the header badge shares this state (notifications/inbox.js).
import { h, replace } from "../core/dom.js";
import { dateTime } from "../core/format.js";
import { badge, button, empty, errorBox, page } from "../core/ui.js";
import { markAllRead, markRead, onInbox } from "../notifications/inbox.js";

export default function inbox() {
  const list = h("div", {});
  const out = h("div", { "aria-live": "polite" });
  const el = page("Inbox", "What the platform has told you.",
    h("div", { class: "toolbar" }, button("Mark all read", async () => { try { await markAllRead(); } catch (e) { out.replaceChildren(errorBox(e)); } }, { class: "secondary" }), out), list);
  const off = onInbox((data) => {
    if (!el.isConnected && list.childElementCount) { off(); return; }
    replace(list, data.items.length ? h("ul", { class: "inbox" }, data.items.map((m) => h("li", { class: m.read ? "read" : "unread" },
      h("h2", { class: "inbox-title" }, m.title, m.read ? null : [" ", badge("unread", "Unread")]),
      h("p", {}, m.body),
      h("p", { class: "meta" }, dateTime(m.created_at), m.read ? null : [" · ", button("Mark read", () => markRead(m.id).catch((e) => out.replaceChildren(errorBox(e))), { class: "link", label: "Mark read: " + m.title })]))))
      : empty("Nothing in your inbox."));
  });
  return el;
}
