// Small pieces every section uses: headings, tables, forms that show the API's field errors,
// status badges, a live region that announces results, lists that page with the API's cursor.
import { ApiError } from "./api.js";
import { h, newId, replace } from "./dom.js";
import { label } from "./format.js";

export function announce(text, tone = "polite") {
  const region = document.getElementById(tone === "assertive" ? "alerts" : "status");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 30);
}

export function page(title, intro, ...children) {
  return h("section", { class: "page" },
    h("header", { class: "page-head" }, h("h1", { tabindex: "-1", class: "page-title" }, title), intro ? h("p", { class: "lead" }, intro) : null),
    ...children);
}

export function card(title, ...children) {
  const id = newId("card");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

export function badge(status, text) {
  return h("span", { class: ["badge", "badge-" + String(status || "none").replace(/[^a-z_]/gi, "")] }, text || label(status));
}

export function kpi(name, value, note, tone) {
  return h("div", { class: ["kpi", tone && "kpi-" + tone] }, h("p", { class: "kpi-name" }, name), h("p", { class: "kpi-value" }, value), note ? h("p", { class: "kpi-note" }, note) : null);
}

export function empty(text) { return h("p", { class: "empty" }, text); }

// A route this server does not have (yet) answers 404 `not_found` (or 405): a section that needs it
// says so plainly instead of failing, and the rest of the page works.
export const isMissing = (e) => e instanceof ApiError && ((e.status === 404 && e.code === "not_found") || e.status === 405);
export function unavailable(what) {
  return h("p", { class: "notice unavailable", role: "status" }, `${what}: not available on this server yet (its API is not installed).`);
}
// renders `render()` like async(), but a missing API shows `unavailable(what)`
export function optional(what, render) {
  const holder = h("div", { class: "async" }, loading());
  Promise.resolve().then(render).then((node) => replace(holder, node))
    .catch((e) => replace(holder, isMissing(e) ? unavailable(what) : errorBox(e)));
  return holder;
}

export function errorBox(error) {
  const message = error instanceof ApiError ? error.message : String(error?.message || error);
  return h("div", { class: "error", role: "alert" }, h("strong", {}, "Not done: "), message,
    error?.code ? h("span", { class: "code" }, ` (${error.code})`) : null);
}

// a table; columns: [{title, cell: (row) => node|text, class}]
export function table(columns, rows, caption) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption || "Table" },
    h("table", {},
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.title)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.class, "data-title": c.title }, c.cell(row))))))));
}

// a list that loads a page at a time: fetchPage(cursor) -> {items, next}
export function pagedTable(columns, fetchPage, { caption, emptyText = "Nothing yet.", missing } = {}) {
  const holder = h("div", { class: "paged" });
  let rows = [];
  async function load(cursor) {
    const more = holder.querySelector(".more");
    if (more) more.disabled = true;
    try {
      const data = await fetchPage(cursor);
      rows = cursor ? rows.concat(data.items) : data.items;
      replace(holder, rows.length ? table(columns, rows, caption) : empty(emptyText),
        data.next ? h("button", { class: "more secondary", type: "button", onclick: () => load(data.next) }, "Load more") : null);
    } catch (e) { replace(holder, missing && isMissing(e) ? unavailable(missing) : errorBox(e)); }
  }
  holder.reload = () => load(null);
  load(null);
  return holder;
}

// a labelled input; kind: text|number|select|textarea|checkbox|password|date|month|file
export function field(name, text, opts = {}) {
  const id = newId(name);
  const hintId = opts.hint ? id + "-hint" : null;
  const errId = id + "-err";
  const common = { id, name, required: opts.required, "aria-describedby": [hintId, errId].filter(Boolean).join(" "), autocomplete: opts.autocomplete || "off" };
  let control;
  if (opts.kind === "select") {
    control = h("select", common, (opts.options || []).map(([value, text]) => h("option", { value, selected: value === opts.value }, text)));
  } else if (opts.kind === "textarea") {
    control = h("textarea", { ...common, rows: opts.rows || 3, maxlength: opts.maxlength }, opts.value || "");
  } else if (opts.kind === "checkbox") {
    control = h("input", { ...common, type: "checkbox", checked: !!opts.value });
  } else {
    control = h("input", { ...common, type: opts.kind || "text", value: opts.value ?? "", inputmode: opts.inputmode, placeholder: opts.placeholder, maxlength: opts.maxlength, min: opts.min, max: opts.max, step: opts.step, accept: opts.accept, pattern: opts.pattern, spellcheck: "false" });
  }
  const wrap = h("div", { class: ["field", opts.kind === "checkbox" && "field-check", opts.class] },
    opts.kind === "checkbox" ? [control, h("label", { for: id }, text)] : [h("label", { for: id }, text), control],
    hintId ? h("p", { class: "hint", id: hintId }, opts.hint) : null,
    h("p", { class: "field-error", id: errId }));
  wrap.control = control;
  return wrap;
}

// a form that posts through `submit(values)`, shows field errors where they belong, and announces the result
export function form(fields, submitText, submit, { onDone, cancel, className } = {}) {
  const status = h("div", { class: "form-status", "aria-live": "polite" });
  const button = h("button", { type: "submit" }, submitText);
  const el = h("form", { class: ["form", className], novalidate: true }, fields, h("div", { class: "actions" }, button, cancel || null), status);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    el.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
    el.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
    replace(status);
    const values = {};
    for (const c of el.elements) {
      if (!c.name) continue;
      values[c.name] = c.type === "checkbox" ? c.checked : c.type === "file" ? c.files[0] : c.value.trim();
    }
    button.disabled = true;
    try {
      const result = await submit(values, el);
      if (onDone) await onDone(result, el);
    } catch (e) {
      showErrors(el, e, status);
    } finally { button.disabled = false; }
  });
  return el;
}

export function showErrors(el, error, status) {
  let first = null;
  for (const [name, messages] of Object.entries(error?.fields || {})) {
    const control = el.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!control) continue;
    control.setAttribute("aria-invalid", "true");
    const err = document.getElementById(control.id + "-err");
    if (err) err.textContent = [].concat(messages).join(" ");
    first = first || control;
  }
  replace(status, errorBox(error));
  announce(error?.message || "Not done", "assertive");
  (first || status).focus?.();
}

export function button(text, onclick, opts = {}) {
  return h("button", { type: "button", class: opts.class, onclick, "aria-label": opts.label, disabled: opts.disabled }, text);
}

export function dl(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

export function loading(text = "Loading…") { return h("p", { class: "loading", role: "status" }, text); }

// renders `render()` into a fresh holder, showing a loading line and any error
export function async(render) {
  const holder = h("div", { class: "async" }, loading());
  Promise.resolve().then(render).then((node) => replace(holder, node)).catch((e) => replace(holder, errorBox(e)));
  return holder;
}

export function tabs(items, selected, onSelect) {
  const list = h("div", { class: "tabs", role: "tablist" });
  items.forEach(([key, text]) => list.append(h("button", {
    type: "button", role: "tab", "aria-selected": String(key === selected), class: key === selected ? "active" : "",
    onclick: () => onSelect(key),
  }, text)));
  return list;
}

export function filters(fields, onChange) {
  const el = h("form", { class: "filters", role: "search" }, fields, h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Apply")));
  el.addEventListener("submit", (e) => {
    e.preventDefault();
    const values = {};
    for (const c of el.elements) if (c.name && c.value) values[c.name] = c.value;
    onChange(values);
  });
  return el;
}

export function download(blobUrl, filename) {
  const a = h("a", { href: blobUrl, download: filename, class: "sr-only" }, "download");
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(blobUrl), 10000);
}

// a button that asks before it acts, in the page (no blocking dialog): `ask` names the question, and
// with `note` a text field whose value goes to `act(note)`
export function confirmButton(text, { ask, yes = text, note, label: name, act, cls = "secondary small" }) {
  const holder = h("span", { class: "confirm" });
  const out = h("span", { "aria-live": "polite" });
  const idle = () => replace(holder, button(text, open, { class: cls, label: name }), out);
  function open() {
    const input = note ? h("input", { type: "text", "aria-label": note, placeholder: note, class: "confirm-note" }) : null;
    const go = button(yes, async () => {
      if (input && input.value.trim().length < 3) { input.setAttribute("aria-invalid", "true"); input.focus(); return; }
      go.disabled = true;
      try { await act(input ? input.value.trim() : undefined); } catch (e) { go.disabled = false; replace(out, errorBox(e)); }
    }, { class: "small" });
    replace(holder, h("span", { role: "group", "aria-label": ask, class: "confirm-ask" }, h("span", {}, ask + " "), input, go,
      button("Cancel", idle, { class: "secondary small" })), out);
    (input || go).focus();
  }
  idle();
  return holder;
}
