// The portal's shell: sign-in, the sections the signed-in role may see, the merchant a platform
// user acts on, the inbox badge, and routing under /portal/ (the gateway answers index.html for
// every app path, so a reload or a shared link lands on the same page).
import { ApiError } from "./core/api.js";
import * as context from "./core/context.js";
import { h, replace } from "./core/dom.js";
import { label } from "./core/format.js";
import { errorBox, field, form, loading } from "./core/ui.js";
import { currentUser, isPlatform, onSessionChange, resume, signIn, signOut } from "./core/session.js";
import { onInbox, startInbox, stopInbox } from "./notifications/inbox.js";
import { SECTIONS, homeFor, sectionsFor } from "./sections/registry.js";

const ROOT = "/portal/";
const app = document.getElementById("app");
let shell = null;
let renderToken = 0;

export function navigate(path, { replaceState = false } = {}) {
  const target = path.startsWith("/") ? path : ROOT + path;
  if (target !== location.pathname + location.search) history[replaceState ? "replaceState" : "pushState"]({}, "", target);
  render();
}

function parts() {
  const rest = location.pathname.startsWith(ROOT) ? location.pathname.slice(ROOT.length) : "";
  return rest.split("/").filter(Boolean).map(decodeURIComponent);
}

// -- signing in -------------------------------------------------------------------------------
function signInPage(message) {
  const username = field("username", "Username", { required: true, autocomplete: "username" });
  const password = field("password", "Password", { kind: "password", required: true, autocomplete: "current-password" });
  const el = h("main", { id: "main", class: "signin" },
    h("div", { class: "signin-box" },
      h("p", { class: "brand-big", "aria-hidden": "true" }, "VowRewards"),
      h("h1", { tabindex: "-1" }, "Sign in to the merchant portal"),
      message ? h("p", { class: "notice", role: "status" }, message) : null,
      form([username, password], "Sign in", async (v) => {
        if (!v.username || !v.password) {
          throw new ApiError(422, { code: "validation_failed", message: "Enter your username and password.",
            fields: Object.assign({}, !v.username && { username: ["Required."] }, !v.password && { password: ["Required."] }) });
        }
        await signIn(v.username, v.password);
      }, { onDone: () => start(), className: "signin-form" })));
  replace(app, el);
  username.control.focus();
}

// -- the shell ----------------------------------------------------------------------------------
function merchantControl(user) {
  if (!isPlatform(user)) {
    const m = context.merchant();
    return m ? h("span", { class: "merchant-name" }, m.name) : null;
  }
  const merchants = context.allMerchants();
  if (!merchants.length) return h("span", { class: "merchant-name" }, "No merchants yet");
  const select = h("select", { id: "merchant-pick", onchange: (e) => { context.chooseMerchant(e.target.value); render(); } },
    merchants.map((m) => h("option", { value: m.id, selected: m.id === context.merchant()?.id }, m.name)));
  return h("div", { class: "merchant-pick" }, h("label", { for: "merchant-pick" }, "Merchant"), select);
}

function buildShell(user) {
  const nav = h("nav", { id: "nav", "aria-label": "Sections", class: "nav" });
  const toggle = h("button", { type: "button", class: "menu-toggle secondary", "aria-expanded": "false", "aria-controls": "nav",
    onclick: () => { const open = toggle.getAttribute("aria-expanded") !== "true"; toggle.setAttribute("aria-expanded", String(open)); nav.classList.toggle("open", open); } }, "Menu");
  const badge = h("span", { class: "count", hidden: true });
  const unread = h("span", { class: "sr-only" }, "");
  const inboxLink = h("a", { href: ROOT + "inbox", class: "inbox-link", "data-link": "" }, "Inbox ", badge, unread);
  const canInbox = SECTIONS.find((s) => s.id === "inbox").roles.includes(user.role);
  const main = h("main", { id: "main", tabindex: "-1" });
  const merchantSlot = h("div", { class: "merchant-slot" }, merchantControl(user));
  context.onMerchantChange(() => replace(merchantSlot, merchantControl(user)));
  const el = h("div", { class: "shell" },
    h("header", { class: "top" },
      toggle,
      h("a", { href: ROOT, class: "brand", "data-link": "" }, "VowRewards"),
      merchantSlot,
      h("div", { class: "top-right" },
        canInbox ? inboxLink : null,
        h("span", { class: "who" }, h("span", { class: "who-name" }, user.username), " · ", label(user.role)),
        h("button", { type: "button", class: "secondary", onclick: async () => { await signOut(); } }, "Sign out"))),
    nav, main,
    h("div", { id: "status", class: "sr-only", role: "status", "aria-live": "polite" }),
    h("div", { id: "alerts", class: "sr-only", role: "alert", "aria-live": "assertive" }));
  if (canInbox) {
    onInbox((data) => {
      const n = data.unread_count || 0;
      badge.hidden = n === 0;
      badge.textContent = n > 99 ? "99+" : String(n);
      unread.textContent = n ? " unread" : "";
      inboxLink.dataset.live = data.live ? "stream" : "poll"; // how updates arrive (the tests read it)
    });
  }
  return { el, nav, main, toggle };
}

function renderNav(user, current) {
  replace(shell.nav, h("ul", {}, sectionsFor(user.role).filter((s) => s.nav !== false).map((s) =>
    h("li", {}, h("a", { href: ROOT + s.id, "data-link": "", "aria-current": s.id === current ? "page" : null }, s.title)))));
  shell.nav.classList.remove("open");
  shell.toggle.setAttribute("aria-expanded", "false");
}

async function render() {
  const user = currentUser();
  if (!user || !shell) return;
  const token = ++renderToken;
  const [id = homeFor(user.role), ...rest] = parts();
  const section = SECTIONS.find((s) => s.id === id);
  renderNav(user, id);
  if (!section || !section.roles.includes(user.role)) {
    replace(shell.main, h("section", { class: "page" }, h("h1", { tabindex: "-1", class: "page-title" }, "Not available"),
      h("p", {}, `There is no section “${id}” for your role (${label(user.role)}).`), h("p", {}, h("a", { href: ROOT, "data-link": "" }, "Go to your start page"))));
    shell.main.querySelector("h1").focus();
    return;
  }
  document.title = `${section.title} · VowRewards`;
  replace(shell.main, loading());
  try {
    const module = await section.load();
    if (token !== renderToken) return;
    const node = await module.default({ user, path: rest, query: new URLSearchParams(location.search), navigate });
    if (token !== renderToken) return;
    replace(shell.main, node);
  } catch (e) {
    if (token !== renderToken) return;
    replace(shell.main, h("section", { class: "page" }, h("h1", { tabindex: "-1", class: "page-title" }, section.title), errorBox(e)));
  }
  const heading = shell.main.querySelector("h1");
  if (heading && document.activeElement?.closest?.("#main") == null) heading.focus({ preventScroll: false });
}

async function start() {
  const user = currentUser();
  replace(app, h("main", { id: "main" }, loading("Opening your workspace…")));
  try {
    await context.loadMerchants();
    if (isPlatform(user) && !context.merchant() && context.allMerchants().length) context.chooseMerchant(context.allMerchants()[0].id);
  } catch (e) {
    replace(app, h("main", { id: "main", class: "signin" }, errorBox(e)));
    return;
  }
  shell = buildShell(user);
  replace(app, shell.el);
  if (SECTIONS.find((s) => s.id === "inbox").roles.includes(user.role)) startInbox();
  await render();
}

// internal links route here instead of reloading the page
document.addEventListener("click", (event) => {
  const a = event.target.closest?.("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", () => render());

onSessionChange((user) => {
  if (!user && shell) {
    shell = null;
    stopInbox();
    context.reset();
    signInPage("You are signed out.");
  }
});

(async () => {
  const user = await resume();
  if (user) await start(); else signInPage();
})();
