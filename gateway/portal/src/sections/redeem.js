// The redemption panel (the voucher document's flow): the till is signed in for its branch (an
// owner picks one); the voucher is scanned with the camera, typed (or typed by a keyboard-wedge
// scanner, ending in Enter) or photographed; the API says what it will redeem or exactly why not;
// the cashier adds receipt remarks and confirms (one Idempotency-Key per confirmation, so a retry
// after a lost answer cannot redeem twice); then a success screen or the error, and the voucher record.
import { ApiError, api, idempotencyKey } from "../core/api.js";
import * as context from "../core/context.js";
import { h, replace } from "../core/dom.js";
import { dateTime, label, money, percent, toMinor, who } from "../core/format.js";
import { announce, badge, card, dl, errorBox, field, page, table } from "../core/ui.js";
import { cameraAvailable, startScanner } from "../scanner/camera.js";

const CHANNELS = [["pos", "Till (POS)"], ["kiosk", "Kiosk"], ["web", "Web"], ["in_app", "In app"], ["vending_machine", "Vending machine"]];
const CODE_LIKE = /^[A-Za-z0-9][A-Za-z0-9 -]{3,63}$/;

export default async function redeem({ user }) {
  const isOwner = user.role === "owner";
  const stores = isOwner ? await context.stores() : [];
  let presentation = null; // {kind: "text"|"photo", text?, file?}
  let key = null; // the Idempotency-Key of the confirmation being attempted
  let scanner = null;

  const store = isOwner
    ? field("store_id", "Store redeeming", { kind: "select", required: true, options: [["", "Choose the store…"], ...stores.map((s) => [s.id, s.name])] })
    : null;
  const channel = field("channel", "Channel", { kind: "select", options: CHANNELS, value: "pos" });
  const where = card("Where", isOwner ? store : h("p", { class: "where" }, "Redeeming at ", h("strong", {}, await context.storeName(user.store_id)), " as ", user.username, "."), channel);

  const codeInput = field("code", "Voucher code or scanned text", { required: true, hint: "Type the code, or scan with a barcode scanner: it ends with Enter.", autocomplete: "off", maxlength: 512 });
  const codeForm = h("form", { class: "form inline-form", novalidate: true }, codeInput, h("div", { class: "actions" }, h("button", { type: "submit" }, "Check")));
  codeForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = codeInput.control.value.trim();
    if (!text) { codeInput.querySelector(".field-error").textContent = "Type or scan a code first."; codeInput.control.focus(); return; }
    begin({ kind: "text", text });
  });

  const video = h("video", { class: "camera", muted: true, playsinline: true, "aria-label": "Camera preview" });
  const cameraBox = h("div", { class: "camera-box", hidden: true }, video,
    h("p", { class: "hint" }, "Hold the voucher's QR code in front of the camera."),
    h("button", { type: "button", class: "secondary", onclick: () => stopCamera() }, "Stop camera"));
  const cameraButton = h("button", { type: "button", class: "secondary", disabled: !cameraAvailable(), onclick: () => startCamera() }, "Scan with camera");
  const photo = h("input", { type: "file", id: "redeem-photo", name: "image", accept: "image/*", capture: "environment", class: "file",
    onchange: () => { if (photo.files[0]) begin({ kind: "photo", file: photo.files[0] }); } });
  const present = card("1. The voucher", codeForm,
    h("div", { class: "present-other" }, cameraButton, photo, h("label", { for: "redeem-photo", class: "button secondary file-label" }, "Upload a QR photo")),
    cameraBox);

  const result = h("div", { class: "redeem-result", "aria-live": "polite" });
  const el = page("Redeem a voucher", "Scan, type or photograph the voucher the customer shows, check it, add the receipt remarks and confirm.", where, present, result);
  el.classList.add("redeem");
  setTimeout(() => codeInput.control.focus(), 0);

  function storeChosen() {
    if (!isOwner) return true;
    if (store.control.value) return true;
    store.querySelector(".field-error").textContent = "Choose the store that is redeeming.";
    store.control.setAttribute("aria-invalid", "true");
    store.control.focus();
    return false;
  }

  async function startCamera() {
    if (!storeChosen()) return;
    cameraBox.hidden = false;
    cameraButton.disabled = true;
    try {
      scanner = await startScanner(video, (text) => {
        scanner = null;
        cameraBox.hidden = true;
        cameraButton.disabled = false;
        announce("Code read from the camera");
        begin({ kind: "text", text, scanned: true });
      });
      announce("Camera on: show the QR code");
    } catch (e) {
      cameraBox.hidden = true;
      cameraButton.disabled = false;
      replace(result, errorBox(new ApiError(0, { code: "camera_unavailable", message: "The camera could not start (" + (e.name || e.message) + "): type the code or upload a photo instead." })));
    }
  }
  function stopCamera() {
    scanner?.stop();
    scanner = null;
    cameraBox.hidden = true;
    cameraButton.disabled = !cameraAvailable();
  }

  // the presentation as the API takes it, with the options chosen
  function body(extra = {}) {
    const data = { ...extra };
    if (isOwner) data.store_id = store.control.value;
    if (presentation.kind === "text") {
      const text = presentation.text;
      if (!presentation.scanned && CODE_LIKE.test(text)) data.code = text; else data.scanned_text = text;
    }
    for (const k of Object.keys(data)) if (data[k] === null || data[k] === undefined || data[k] === "") delete data[k];
    return data;
  }
  function call(path, data, headers) {
    if (presentation.kind === "photo") {
      const form = new FormData();
      form.append("image", presentation.file, presentation.file.name || "photo");
      for (const [k, v] of Object.entries(data)) form.append(k, String(v));
      return api.upload(path, form, { headers });
    }
    return api.post(path, data, { headers });
  }

  function begin(next) {
    if (!storeChosen()) return;
    stopCamera();
    presentation = next;
    key = null;
    check({});
  }

  async function check(options) {
    replace(result, h("p", { class: "loading", role: "status" }, "Checking the voucher…"));
    let answer;
    try {
      answer = await call("/redemptions/validation", body(options));
    } catch (e) {
      return showRefusal(e, options);
    }
    showCheck(answer, options);
  }

  function showRefusal(error, options) {
    const needsPin = ["pin_required", "wrong_pin"].includes(error.code);
    const heading = h("h2", { tabindex: "-1" }, needsPin ? "This voucher needs its PIN" : "Cannot be redeemed");
    const pin = needsPin ? field("pin", "PIN", { kind: "password", inputmode: "numeric", maxlength: 8, required: true, autocomplete: "off" }) : null;
    const retry = needsPin ? h("form", { class: "form inline-form", novalidate: true }, pin, h("div", { class: "actions" }, h("button", { type: "submit" }, "Check with PIN"))) : null;
    retry?.addEventListener("submit", (e) => { e.preventDefault(); check({ ...options, pin: pin.control.value.trim() }); });
    replace(result, h("section", { class: "card check refused", "aria-labelledby": "refused-h" },
      Object.assign(heading, { id: "refused-h" }), errorBox(error), retry, again()));
    announce("Cannot be redeemed: " + error.message, "assertive");
    (pin ? pin.control : heading).focus();
  }

  function showCheck(answer, options) {
    const v = answer.voucher;
    const r = answer.redeemable;
    const heading = h("h2", { tabindex: "-1", id: "check-h" }, answer.ok ? "Ready to redeem" : "Cannot be redeemed");
    const facts = dl([
      ["Voucher", v.display_code || v.code],
      ["Kind", label(v.kind)],
      v.kind === "discount_percent" ? ["Discount", `${percent(v.percent_bp)}${v.cap ? " up to " + money(v.cap, v.currency) : ""}`] : ["Value", money(v.value, v.currency)],
      v.balance !== null && v.balance !== undefined ? ["Balance", money(v.balance, v.currency)] : null,
      ["Status", badge(v.status)],
      ["Valid until", v.valid_until ? dateTime(v.valid_until) : "No end"],
      v.min_purchase ? ["Minimum purchase", money(v.min_purchase, v.currency)] : null,
      ["Read as", label(answer.method)],
    ]);
    const parts = [heading, facts];
    if (!answer.ok) {
      parts.push(h("div", { class: "error", role: "alert" }, h("strong", {}, "Why not: "), answer.reason.message, h("span", { class: "code" }, ` (${answer.reason.code})`)));
      parts.push(again());
      replace(result, h("section", { class: "card check refused", "aria-labelledby": "check-h" }, parts));
      announce("Cannot be redeemed: " + answer.reason.message, "assertive");
      heading.focus();
      return;
    }
    const would = answer.would_redeem;
    parts.push(h("p", { class: "will-redeem" }, "Will redeem: ", h("strong", {},
      would ? money(would.amount, v.currency) + (would.points ? ` and ${would.points} points` : "")
        : r.kind === "discount_percent" ? `${percent(r.percent_bp)} off` : money(r.max_amount, v.currency)),
      would && would.balance_after !== null && would.balance_after !== undefined ? ` (balance after: ${money(would.balance_after, v.currency)})` : null,
      r.discount !== undefined ? ` (discount on this purchase: ${money(r.discount, v.currency)})` : null));

    // options the voucher allows: a part of the balance, the purchase amount, points
    const opts = [];
    const amount = r.partial_allowed ? field("amount", `Amount to take (${v.currency})`, { inputmode: "decimal", hint: `Up to ${money(r.max_amount, v.currency)}; empty takes it all.`, value: options.amount ? (options.amount / 100).toFixed(2) : "" }) : null;
    const purchase = (r.min_purchase || r.kind === "discount_percent") ? field("purchase_amount", `Purchase amount (${v.currency})`, { inputmode: "decimal", value: options.purchase_amount ? (options.purchase_amount / 100).toFixed(2) : "" }) : null;
    const points = r.points_allowed ? field("points", "Points to spend", { inputmode: "numeric", hint: `One point is worth ${money(r.point_value, v.currency)}.`, value: options.points || "" }) : null;
    [amount, purchase, points].forEach((f) => f && opts.push(f));
    const readOptions = () => {
      const o = { pin: options.pin };
      const bad = {};
      if (amount?.control.value) { o.amount = toMinor(amount.control.value, v.currency); if (o.amount === null) bad.amount = ["A number, e.g. 25.00"]; }
      if (purchase?.control.value) { o.purchase_amount = toMinor(purchase.control.value, v.currency); if (o.purchase_amount === null) bad.purchase_amount = ["A number, e.g. 120.00"]; }
      if (points?.control.value) { o.points = Number(points.control.value); if (!Number.isInteger(o.points) || o.points < 0) bad.points = ["A whole number of points"]; }
      if (Object.keys(bad).length) throw new ApiError(422, { code: "validation_failed", message: "Some amounts are not valid", fields: bad });
      return o;
    };
    let optForm = null;
    if (opts.length) {
      optForm = h("form", { class: "form options", novalidate: true }, opts, h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Check these amounts")));
      optForm.addEventListener("submit", (e) => { e.preventDefault(); try { check(readOptions()); } catch (err) { showFieldErrors(optForm, err); } });
      parts.push(optForm);
    }

    const remarks = field("receipt_remarks", "Receipt remarks", { kind: "textarea", maxlength: 500, hint: "E.g. the receipt or till number; kept with the redemption record." });
    const confirmButton = h("button", { type: "submit", class: "primary big" }, "Confirm redemption");
    const confirmForm = h("form", { class: "form confirm", novalidate: true }, remarks, h("div", { class: "actions" }, confirmButton, again("Cancel")));
    const status = h("div", { class: "form-status" });
    confirmForm.append(status);
    confirmForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      let chosen;
      try { chosen = opts.length ? readOptions() : { pin: options.pin }; } catch (err) { return showFieldErrors(optForm || confirmForm, err); }
      key = key || idempotencyKey(); // the same key if this very confirmation is retried
      confirmButton.disabled = true;
      replace(status, h("p", { class: "loading", role: "status" }, "Redeeming…"));
      try {
        const data = body({ ...chosen, channel: channel.control.value, receipt_remarks: remarks.control.value.trim() });
        const done = await call("/redemptions", data, { "Idempotency-Key": key });
        key = null;
        showDone(done);
      } catch (err) {
        confirmButton.disabled = false;
        if (err.status === 0 || err.status >= 500) {
          // the answer may have been lost: confirming again sends the same key, so it cannot redeem twice
          replace(status, errorBox(err), h("p", { class: "hint" }, "Confirm again to retry safely: it will not redeem twice."));
          announce("Not confirmed: " + err.message, "assertive");
        } else {
          key = null;
          showFailed(err);
        }
      }
    });
    parts.push(h("h3", {}, "2. Confirm"), confirmForm);
    replace(result, h("section", { class: "card check ok", "aria-labelledby": "check-h" }, parts));
    announce("Ready to redeem. Add receipt remarks and confirm.");
    heading.focus();
  }

  function showFieldErrors(formEl, err) {
    for (const [name, msgs] of Object.entries(err.fields || {})) {
      const c = formEl.querySelector(`[name="${name}"]`);
      if (c) { c.setAttribute("aria-invalid", "true"); const p = document.getElementById(c.id + "-err"); if (p) p.textContent = msgs.join(" "); }
    }
    announce(err.message, "assertive");
  }

  function showFailed(error) {
    const heading = h("h2", { tabindex: "-1", id: "failed-h" }, "Not redeemed");
    replace(result, h("section", { class: "card check refused", "aria-labelledby": "failed-h" }, heading, errorBox(error), again("Start over")));
    announce("Not redeemed: " + error.message, "assertive");
    heading.focus();
  }

  async function showDone(done) {
    const heading = h("h2", { tabindex: "-1", id: "done-h" }, "Redeemed");
    const record = h("div", { class: "voucher-record" });
    replace(result, h("section", { class: "card success", "aria-labelledby": "done-h" },
      h("p", { class: "success-mark", "aria-hidden": "true" }, "✓"), heading,
      h("p", { class: "success-amount" }, money(done.amount, done.currency), done.points ? ` + ${done.points} points` : ""),
      dl([
        ["Reference", done.reference],
        ["Voucher", done.voucher_code],
        ["Voucher now", [badge(done.voucher_status), done.voucher_balance !== null && done.voucher_balance !== undefined ? " balance " + money(done.voucher_balance, done.currency) : ""]],
        ["Store", await context.storeName(done.store_id)],
        ["Processed by", who(done.processed_by)],
        ["Channel", label(done.channel)],
        ["Receipt remarks", done.receipt_remarks || "—"],
        ["At", dateTime(done.created_at)],
      ]),
      h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: reset }, "Redeem another")),
      record));
    announce(`Redeemed ${money(done.amount, done.currency)}, reference ${done.reference}`);
    heading.focus();
    photo.value = "";
    codeInput.control.value = "";
    if (!done.voucher_code_masked && done.voucher_code) {
      try {
        const v = await api.get(`/vouchers/${encodeURIComponent(done.voucher_code)}`);
        replace(record, h("h3", {}, "Voucher record"), dl([
          ["Code", v.display_code || v.code], ["Status", badge(v.status)],
          ["Uses", `${v.uses} of ${v.uses_allowed}`],
          v.balance !== null && v.balance !== undefined ? ["Balance", money(v.balance, v.currency)] : null,
        ]), table([
          { title: "When", cell: (x) => dateTime(x.at) }, { title: "From", cell: (x) => label(x.from_status) },
          { title: "To", cell: (x) => label(x.to_status) }, { title: "By", cell: (x) => who(x.actor) },
          { title: "Why", cell: (x) => x.reason || "—" },
        ], v.history || [], "Voucher history"));
      } catch (e) { replace(record, errorBox(e)); }
    }
  }

  function again(text = "Check another voucher") {
    return h("button", { type: "button", class: "secondary", onclick: reset }, text);
  }
  function reset() {
    presentation = null;
    key = null;
    photo.value = "";
    codeInput.control.value = "";
    replace(result);
    codeInput.control.focus();
  }

  el.addEventListener("portal:leave", stopCamera);
  // leaving the page stops the camera
  const observer = new MutationObserver(() => { if (!el.isConnected) { stopCamera(); observer.disconnect(); } });
  setTimeout(() => observer.observe(document.getElementById("main") || document.body, { childList: true }), 0);
  return el;
}
