// Settlements: ledger entries, batches (close, release), exceptions with their critical tickets,
// and the payout wallet: the owner sets it; platform finance verifies it (an emailed code the
// merchant reads back, or a note of a call) and confirms it. A batch shows its lines (per store and
// counterparty) and its statement (JSON, CSV); balances per account at any date; the ledger's hash chain.
import { ApiError, api } from "../core/api.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime, label, money, who } from "../core/format.js";
import { announce, async, badge, button, card, confirmButton, dl, download, empty, errorBox, field, filters, form, isMissing, optional, page, pagedTable, table, tabs, unavailable } from "../core/ui.js";

const TABS = [["entries", "Entries"], ["batches", "Batches"], ["exceptions", "Exceptions"], ["balances", "Balances"], ["payout", "Payout wallet"], ["schedule", "Schedule"]];
const FREQUENCIES = [["daily", "Daily"], ["weekly", "Weekly (periods end on Monday)"], ["monthly", "Monthly"]];
const ticketLink = (ref, role) => ref
  ? (["owner", "support_agent", "finance", "admin"].includes(role) ? h("a", { href: "/portal/support/" + encodeURIComponent(ref), "data-link": "" }, ref) : ref)
  : "—";
const batchLink = (ref) => ref ? h("a", { href: "/portal/settlements/batches/" + encodeURIComponent(ref), "data-link": "" }, ref) : "—";

function entries({ query, navigate }) {
  const current = Object.fromEntries(query.entries());
  return h("div", {},
    filters([field("unbatched", "Which", { kind: "select", value: current.unbatched || "", options: [["", "All entries"], ["true", "Not yet in a batch"], ["false", "In a batch"]] })],
      (v) => navigate("/portal/settlements/entries?" + new URLSearchParams(v))),
    pagedTable([
      { title: "Recorded", cell: (e) => dateTime(e.occurred_at) },
      { title: "Kind", cell: (e) => label(e.kind) },
      { title: "Redemption", cell: (e) => e.redemption_reference || "—" },
      { title: "Funding", cell: (e) => label(e.funding) },
      { title: "Amount", cell: (e) => money(e.amount, e.currency), class: "num" },
      { title: "Batch", cell: (e) => batchLink(e.batch_reference) },
    ], (cursor) => api.get("/settlements/entries", context.scope({ ...current, cursor, limit: 50 })), { caption: "Ledger entries", emptyText: "No entries yet: each redemption adds one." }));
}

function releaseButton(b, user, after) {
  // held for its payout address: closed, with that exception open
  const held = b.status === "exception" || b.status === "closed" && b.exception && b.exception.kind === "payout_account_unconfirmed" && b.exception.status === "open";
  if (!held || !["finance", "platform_finance", "admin"].includes(user.role)) return null;
  const out = h("span", { class: "inline-status", "aria-live": "polite" });
  return h("span", {}, button("Release", async () => {
    try { await api.post(`/settlements/batches/${encodeURIComponent(b.reference)}/release`, undefined, { query: context.scope() }); after(); }
    catch (e) { out.replaceChildren(errorBox(e)); }
  }, { class: "secondary small", label: "Release batch " + b.reference }), out);
}

function batches({ user, navigate }) {
  const reload = () => navigate("/portal/settlements/batches", { replaceState: true });
  const now = new Date();
  const list = pagedTable([
    { title: "Batch", cell: (b) => batchLink(b.reference) },
    { title: "Period", cell: (b) => b.period },
    { title: "Entries", cell: (b) => String(b.entry_count), class: "num" },
    { title: "Total", cell: (b) => money(b.total, b.currency), class: "num" },
    { title: "Status", cell: (b) => [badge(b.status), b.exception && b.status !== "exception" ? [" ", badge("exception", "Held")] : null] },
    { title: "Closed", cell: (b) => dateTime(b.closed_at) },
    { title: "", cell: (b) => releaseButton(b, user, reload) },
  ], (cursor) => api.get("/settlements/batches", context.scope({ cursor, limit: 50 })), { caption: "Settlement batches", emptyText: "No batches closed yet." });
  const close = ["finance", "admin"].includes(user.role) ? card("Close a batch", form([
    field("period", "Month to settle", { kind: "month", required: true, value: now.toISOString().slice(0, 7), hint: "Every unbatched entry of that month goes into the batch." }),
  ], "Close batch", (v) => api.post("/settlements/batches", context.scope({ period: v.period })), { onDone: (b) => navigate("/portal/settlements/batches/" + encodeURIComponent(b.reference)) })) : null;
  return h("div", {}, list, close);
}

async function batchView({ user, path, navigate }) {
  const ref = path[2];
  const b = await api.get("/settlements/batches/" + encodeURIComponent(ref), context.scope());
  return h("div", {},
    h("p", {}, h("a", { href: "/portal/settlements/batches", "data-link": "" }, "← Batches")),
    card(`Batch ${b.reference}`, dl([
      ["Status", [badge(b.status), b.exception && b.status !== "exception" ? [" ", badge("exception", "Held by an exception")] : null]],
      ["Period", b.period_start ? `${b.period} (${dateTime(b.period_start)} – ${dateTime(b.period_end)})` : b.period],
      ["Entries", String(b.entry_count)], ["Total", money(b.total, b.currency)],
      b.funded !== undefined ? ["Funded by the platform or partners", money(b.funded, b.currency)] : null,
      ["Closed", `${dateTime(b.closed_at)} by ${who(b.closed_by)}`], b.released_at ? ["Released", `${dateTime(b.released_at)} by ${who(b.released_by)}`] : null,
      b.exception ? ["Held because", b.exception.message || label(b.exception.kind)] : null,
      b.fees !== undefined ? ["Fees", money(b.fees, b.currency)] : null,
      b.payout_amount !== undefined ? ["Payout", money(b.payout_amount, b.currency) + (b.paid_at ? `, paid ${dateTime(b.paid_at)}` : "") + (b.provider_reference ? ` (${b.provider_reference})` : "")] : null,
      b.reconciliation ? ["Reconciliation", b.reconciliation.ok === false || b.reconciliation.matched === false ? "Mismatch: see the exception" : "Matches redemption's totals"] : null,
    ]), releaseButton(b, user, () => navigate(location.pathname, { replaceState: true }))),
    b.lines ? card("Lines", b.lines.length ? await linesTable(b) : empty("No lines.")) : null,
    card("Statement", statementButtons(b.reference)),
    b.transitions?.length ? card("Transitions", h("ol", { class: "audit" }, b.transitions.map((x) => h("li", {},
      dateTime(x.at), " · ", who(x.actor), " · ", `${label(x.from_status || "—")} → ${label(x.to_status)}`, x.note ? " · " + x.note : "")))) : null);
}

async function linesTable(b) {
  const names = {};
  for (const l of b.lines) if (l.store_id && !(l.store_id in names)) names[l.store_id] = await context.storeName(l.store_id);
  return table([
    { title: "Store", cell: (l) => l.store_id ? names[l.store_id] : "—" },
    { title: "Counterparty", cell: (l) => label(l.counterparty) },
    { title: "Redemptions", cell: (l) => `${l.redemptions}${l.reversals ? ` (${l.reversals} reversed)` : ""}`, class: "num" },
    { title: "Gross", cell: (l) => money(l.gross, l.currency), class: "num" },
    { title: "Funded", cell: (l) => money(l.funded, l.currency), class: "num" },
    { title: "Fee", cell: (l) => money(l.fee, l.currency), class: "num" },
    { title: "Payable", cell: (l) => money(l.payable, l.currency), class: "num" },
  ], b.lines, "Batch lines");
}

// statements: the JSON and the CSV as files (the API serves them behind the token)
function statementButtons(ref) {
  const out = h("div", { "aria-live": "polite" });
  const get = (ext) => button(`Download ${ext.toUpperCase()}`, async () => {
    try {
      download(await api.blobUrl(`/settlements/batches/${encodeURIComponent(ref)}/statement.${ext}`, context.scope()), `statement-${ref}.${ext}`);
      announce(`Statement ${ext.toUpperCase()} downloaded`);
    } catch (e) { out.replaceChildren(isMissing(e) ? unavailable("Statements") : errorBox(e)); }
  }, { class: "secondary", label: `Download ${ext.toUpperCase()} statement of ${ref}` });
  return h("div", {}, h("div", { class: "toolbar" }, get("csv"), get("json")), out);
}

function balances({ user, query, navigate }) {
  const current = Object.fromEntries(query.entries());
  const out = h("div", { "aria-live": "polite" });
  const verify = card("Ledger integrity", h("div", {}, h("p", { class: "hint" }, "Each entry carries the hash of the one before: an edited row breaks the chain."),
      button("Verify the ledger", async () => {
        out.replaceChildren(h("p", { class: "loading" }, "Verifying…"));
        try {
          const v = await api.get("/settlements/ledger/verification", context.scope());
          out.replaceChildren(h("p", { class: v.valid ? "notice" : "error", role: "status" },
            v.valid ? `The chain holds: ${v.entries_checked} entries checked, ${dateTime(v.verified_at)}.`
              : `The chain is broken at entry ${v.first_problem?.seq ?? "?"}: ${label(v.first_problem?.problem || "unknown")}.`));
        } catch (e) { out.replaceChildren(isMissing(e) ? unavailable("Ledger verification") : errorBox(e)); }
      }, { class: "secondary" }), out));
  return h("div", {},
    filters([field("at", "At (date)", { kind: "date", value: current.at || "" })], (v) => navigate("/portal/settlements/balances?" + new URLSearchParams(v))),
    card("Balances", optional("Balances", async () => {
      const q = context.scope({ ...(current.at ? { at: new Date(current.at + "T23:59:59Z").toISOString() } : {}), ...(current.store_id ? { store_id: current.store_id } : {}) });
      const data = await api.get("/settlements/balances", q);
      const storesOut = data.stores || [];
      const names = {};
      for (const b of storesOut) if (b.store_id && !(b.store_id in names)) names[b.store_id] = await context.storeName(b.store_id);
      return h("div", {},
        h("p", { class: "hint" }, `As of ${dateTime(data.at)}.`),
        h("h3", {}, "Per store"),
        storesOut.length ? table([
          { title: "Store", cell: (b) => b.store_id ? names[b.store_id] : "Merchant-wide" },
          { title: "Gross", cell: (b) => money(b.gross, b.currency), class: "num" },
          { title: "Fees", cell: (b) => money(b.fees, b.currency), class: "num" },
          { title: "Owed", cell: (b) => money(b.owed, b.currency), class: "num" },
          { title: "Paid", cell: (b) => money(b.paid, b.currency), class: "num" },
          { title: "Outstanding", cell: (b) => money(b.outstanding, b.currency), class: "num" },
        ], storesOut, "Balances per store") : empty("Nothing owed yet: each redemption posts to these."),
        h("h3", {}, "Ledger accounts"),
        (data.accounts || []).length ? table([
          { title: "Account", cell: (b) => h("code", {}, b.account) },
          { title: "Postings", cell: (b) => String(b.postings), class: "num" },
          { title: "Balance", cell: (b) => money(b.balance, b.currency), class: "num" },
        ], data.accounts, "Ledger account balances") : empty("No postings yet."));
    })), verify);
}

function resolveException(x, user, after) {
  if (x.status === "resolved" || !["finance", "platform_finance", "admin"].includes(user.role)) return null;
  return confirmButton("Resolve", { label: "Resolve exception " + (x.batch_reference || x.id.slice(0, 8)), ask: "What was checked or done?",
    note: "Note for the record", yes: "Resolve exception",
    act: async (note) => { await api.post(`/settlements/exceptions/${x.id}/resolution`, { note }, { query: context.scope() }); announce("Exception resolved"); after(); } });
}

function exceptions({ user }) {
  const list = pagedTable([
    { title: "Raised", cell: (x) => dateTime(x.raised_at) },
    { title: "Kind", cell: (x) => label(x.kind) },
    { title: "Batch", cell: (x) => batchLink(x.batch_reference) },
    { title: "Amount", cell: (x) => money(x.amount, x.currency), class: "num" },
    { title: "What", cell: (x) => x.message },
    { title: "Status", cell: (x) => badge(x.status) },
    { title: "Critical ticket", cell: (x) => ticketLink(x.ticket_reference, user.role) },
    { title: "", cell: (x) => x.resolution?.note ? `Resolved: ${x.resolution.note}` : resolveException(x, user, () => list.reload()) },
  ], (cursor) => api.get("/settlements/exceptions", context.scope({ cursor, limit: 50 })), { caption: "Settlement exceptions", emptyText: "No exceptions." });
  return list;
}

async function payout({ user, navigate }) {
  const reload = () => navigate("/portal/settlements/payout", { replaceState: true });
  let account = null;
  try { account = await api.get("/settlements/payout-account", context.scope()); }
  catch (e) { if (!(e instanceof ApiError && e.status === 404)) throw e; }
  const parts = [];
  parts.push(card("Payout wallet", account ? dl([
    ["Address", h("code", {}, account.wallet_address)], ["Status", badge(account.status)],
    ["Payable", account.payable ? "Yes" : `Not yet${account.payable_from ? " (from " + dateTime(account.payable_from) + ")" : ""}`],
    ["Set by", `${who(account.set_by)}, ${dateTime(account.updated_at)}`],
    ["Cooling off until", dateTime(account.cooling_off_until)],
    account.status === "rejected" ? ["Rejected", `${dateTime(account.rejected_at)} by ${who(account.rejected_by)}: ${account.rejection_reason}. Nothing is paid to it: set another address.`]
      : account.confirmed_at ? ["Confirmed", `${dateTime(account.confirmed_at)} by ${who(account.confirmed_by)} (${label(account.confirmation?.method)})`] : ["Confirmed", "Not yet: the platform checks it with you"],
  ]) : empty("No payout wallet yet.")));
  if (["owner", "admin"].includes(user.role)) {
    parts.push(card(account ? "Change the address" : "Set up the wallet", form([
      field("wallet_address", "Wallet address", { required: true, maxlength: 128, hint: "8 to 128 letters, digits or : . _ -. A new address waits for the platform's confirmation and a cooling-off period." }),
    ], account ? "Change address" : "Set address", (v) => api.put("/settlements/payout-account", context.scope({ wallet_address: v.wallet_address })), { onDone: reload })));
  }
  if (["platform_finance", "admin"].includes(user.role) && account && account.status === "unconfirmed") {
    const m = context.merchant();
    const sent = h("div", { "aria-live": "polite" });
    parts.push(card("Verify and confirm (platform)",
      h("p", {}, "Check the address with the merchant out of band: email a one-time code to their registered contact and have them read it back, or call them."),
      form([], "Email a code to the merchant", (v) => api.post("/settlements/payout-account/verification", { merchant_id: m.id }),
        { onDone: (r) => sent.replaceChildren(h("p", { class: "notice" }, `Code sent to ${r.sent_to}; it expires ${dateTime(r.expires_at)} (${r.max_attempts} tries).`)) }),
      sent,
      h("h3", {}, "Confirm with the code"),
      form([field("wallet_address", "Wallet address, typed again", { required: true }), field("code", "Code the merchant read back", { required: true, inputmode: "numeric", placeholder: "1234 5678" })],
        "Confirm address", (v) => api.post("/settlements/payout-account/confirmation", { merchant_id: m.id, wallet_address: v.wallet_address, method: "email_code", code: v.code }), { onDone: reload }),
      h("h3", {}, "Or confirm with a note of the call"),
      form([field("wallet_address", "Wallet address, typed again", { required: true }), field("person", "Who was called", { required: true }),
        field("phone_number", "Number called", { required: true, kind: "tel" }), field("read_back", "What they read back", { required: true }), field("notes", "Notes", { kind: "textarea" })],
      "Confirm address", (v) => api.post("/settlements/payout-account/confirmation", { merchant_id: m.id, wallet_address: v.wallet_address, method: "call_note",
        call_note: { person: v.person, phone_number: v.phone_number, read_back: v.read_back, ...(v.notes ? { notes: v.notes } : {}) } }), { onDone: reload })));
    parts.push(card("Reject the address (platform)",
      h("p", {}, "If the merchant does not confirm it, reject it with the reason they will see; it is never paid to and they set another."),
      form([field("wallet_address", "Wallet address, typed again", { required: true }), field("reason", "Reason", { required: true, kind: "textarea" })],
        "Reject address", (v) => api.post("/settlements/payout-account/rejection", { merchant_id: context.merchant().id, wallet_address: v.wallet_address, reason: v.reason }), { onDone: reload })));
  }
  parts.push(card("History", pagedTable([
    { title: "When", cell: (x) => dateTime(x.at) }, { title: "What", cell: (x) => label(x.action) },
    { title: "Address", cell: (x) => x.wallet_address }, { title: "Who", cell: (x) => who(x.actor) },
  ], (cursor) => api.get("/settlements/payout-account/history", context.scope({ cursor, limit: 50 })), { caption: "Payout wallet history", emptyText: "Nothing yet." })));
  return h("div", {}, parts);
}

// how often the merchant's periods close by themselves (at midnight in its time zone); without a
// schedule, finance closes batches on demand
async function schedule({ navigate }) {
  let current = null;
  try { current = await api.get("/settlements/schedule", context.scope()); }
  catch (e) { if (!(e instanceof ApiError && e.code === "schedule_missing")) throw e; }
  const zone = current?.time_zone || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  return h("div", {},
    card("Settlement schedule", current ? h("div", {}, dl([
      ["Periods close", label(current.frequency)], ["Time zone", current.time_zone], ["Next close", dateTime(current.next_close_at)],
      ["Set by", who(current.updated_by)], ["Set", dateTime(current.updated_at)],
    ]), confirmButton("Stop the schedule", { ask: "Stop closing periods by themselves? Batches are then closed on demand.", yes: "Yes, stop",
      act: async () => { await api.send("DELETE", "/settlements/schedule", { query: context.scope() }); announce("Schedule stopped"); navigate("/portal/settlements/schedule", { replaceState: true }); } }))
      : h("p", { class: "notice" }, "No schedule: periods are closed on demand (Batches).")),
    card(current ? "Change the schedule" : "Set a schedule", form([
      h("div", { class: "row" },
        field("frequency", "Close periods", { kind: "select", value: current?.frequency || "monthly", options: FREQUENCIES }),
        field("time_zone", "Time zone", { required: true, value: zone, maxlength: 64, hint: "An IANA time zone, e.g. Africa/Johannesburg: periods end at its midnight." })),
    ], "Save schedule", (v) => api.put("/settlements/schedule", { frequency: v.frequency, time_zone: v.time_zone, ...context.scope() }),
    { onDone: () => { announce("Schedule saved"); navigate("/portal/settlements/schedule", { replaceState: true }); } })));
}

export default function settlements(ctx) {
  const tab = ctx.path[0] || "entries";
  const body = tab === "batches" && ctx.path[1] ? batchView({ ...ctx, path: ["", ...ctx.path] })
    : tab === "batches" ? batches(ctx) : tab === "exceptions" ? exceptions(ctx) : tab === "payout" ? payout(ctx)
      : tab === "balances" ? balances(ctx) : tab === "schedule" ? schedule(ctx) : entries(ctx);
  return page("Settlements", "Money owed for redemptions, batched per month and paid to the confirmed wallet.",
    tabs(TABS, tab, (key) => ctx.navigate("/portal/settlements/" + key)),
    h("div", { role: "tabpanel" }, async(() => body)));
}
