// Every section of the portal: its path, the roles that see it, and its module (loaded on first
// visit). A later section is one entry here and one file in sections/. A section whose API this
// server does not have says so where the API would answer (core/ui.js `optional`).
export const SECTIONS = [
  { id: "dashboard", title: "Dashboard", roles: ["owner", "store_user", "support_agent", "finance"], load: () => import("./dashboard.js") },
  { id: "onboarding", title: "Onboarding", roles: ["admin"], load: () => import("./onboarding.js") },
  { id: "redeem", title: "Redeem", roles: ["owner", "store_user"], load: () => import("./redeem.js") },
  { id: "vouchers", title: "Vouchers", roles: ["owner", "finance", "support_agent", "admin"], merchant: true, load: () => import("./vouchers.js") },
  { id: "redemptions", title: "Redemptions", roles: ["owner", "store_user", "support_agent", "finance", "admin"], merchant: true, load: () => import("./redemptions.js") },
  { id: "transactions", title: "Transactions", roles: ["owner", "store_user", "finance", "support_agent", "admin"], merchant: true, load: () => import("./transactions.js") },
  { id: "settlements", title: "Settlements", roles: ["owner", "finance", "platform_finance", "admin"], merchant: true, load: () => import("./settlements.js") },
  { id: "support", title: "Support", roles: ["owner", "store_user", "support_agent", "finance", "admin", "platform_support", "it_support"], merchant: true, load: () => import("./support.js") },
  { id: "campaigns", title: "Campaigns", roles: ["owner", "finance", "admin", "platform_finance"], merchant: true, load: () => import("./campaigns.js") },
  { id: "customers", title: "Customers", roles: ["owner", "support_agent", "admin"], merchant: true, load: () => import("./customers.js") },
  { id: "analytics", title: "Analytics", roles: ["owner", "finance", "admin"], merchant: true, load: () => import("./analytics.js") },
  { id: "inbox", title: "Inbox", roles: ["owner", "store_user", "support_agent", "finance", "admin"], nav: false, load: () => import("./inbox.js") },
  { id: "settings", title: "Settings", roles: ["owner", "store_user", "support_agent", "finance", "admin", "platform_finance", "platform_support", "it_support"], load: () => import("./settings.js") },
];

export const sectionsFor = (role) => SECTIONS.filter((s) => s.roles.includes(role));
export const homeFor = (role) => (sectionsFor(role).find((s) => s.nav !== false) || SECTIONS.at(-1)).id;
