// Platform admins onboard merchants: name, currency, contact email and the first stores.
import { api } from "../core/api.js";
import * as context from "../core/context.js";
import { h } from "../core/dom.js";
import { dateTime } from "../core/format.js";
import { card, field, form, page, pagedTable } from "../core/ui.js";

export default function onboarding({ navigate }) {
  return page("Onboarding", "Bring a merchant onto the platform with its stores; its owner is added under Settings.",
    card("Onboard a merchant", form([
      h("div", { class: "row" }, field("name", "Merchant name", { required: true, maxlength: 120 }), field("currency", "Currency", { required: true, value: "ZAR", maxlength: 3, hint: "ISO code, e.g. ZAR" })),
      field("contact_email", "Contact email", { kind: "email", hint: "Payout address checks are emailed here." }),
      field("stores", "Stores, one per line", { kind: "textarea", rows: 4 }),
    ], "Onboard merchant", (v) => api.post("/merchants", {
      name: v.name, currency: v.currency.toUpperCase(), ...(v.contact_email ? { contact_email: v.contact_email } : {}),
      stores: (v.stores || "").split("\n").map((s) => s.trim()).filter(Boolean).map((name) => ({ name })),
    }), { onDone: async (m) => { await context.loadMerchants(); context.chooseMerchant(m.id); navigate("/portal/settings"); } })),
    card("Merchants", pagedTable([
      { title: "Merchant", cell: (m) => m.name }, { title: "Currency", cell: (m) => m.currency },
      { title: "Contact", cell: (m) => m.contact_email || "—" }, { title: "Since", cell: (m) => dateTime(m.created_at) },
    ], (cursor) => api.get("/merchants", { cursor, limit: 50 }), { caption: "Merchants" })));
}
