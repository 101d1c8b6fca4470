// Builds the portal: gateway/portal/src -> gateway/portal/dist (served at /portal/ by gateway/routes/portal.py).
// One esbuild pass bundles and minifies the ES modules (each section its own lazily loaded chunk) and the
// CSS; every file under assets/ is named by its content's hash, so the gateway lets browsers keep it.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const out = join(here, "dist");
const staging = join(here, "dist.building");

rmSync(staging, { recursive: true, force: true });
const result = await build({
  entryPoints: { main: join(src, "main.js"), portal: join(src, "portal.css") },
  bundle: true, splitting: true, format: "esm", minify: true, target: ["es2020", "chrome100", "safari15", "firefox100"],
  outdir: staging, entryNames: "assets/[name]-[hash]", chunkNames: "assets/chunks/[name]-[hash]",
  assetNames: "assets/[name]-[hash]", metafile: true, legalComments: "linked", logLevel: "warning",
});

const outputs = result.metafile.outputs;
const entry = (name) => {
  const found = Object.entries(outputs).find(([, o]) => o.entryPoint && o.entryPoint.endsWith(name));
  if (!found) throw new Error("no output for " + name);
  return relative(staging, found[0]);
};
const hashed = (file) => {
  const data = readFileSync(join(src, file));
  const name = file.replace(/(\.[a-z]+)$/, "-" + createHash("sha256").update(data).digest("hex").slice(0, 10) + "$1");
  mkdirSync(join(staging, "assets"), { recursive: true });
  copyFileSync(join(src, file), join(staging, "assets", name));
  return "assets/" + name;
};
const html = readFileSync(join(src, "index.html"), "utf8")
  .replaceAll("%MAIN_JS%", entry("main.js"))
  .replaceAll("%MAIN_CSS%", entry("portal.css"))
  .replaceAll("%ICON%", hashed("icon.svg"));
writeFileSync(join(staging, "index.html"), html);

// what a first visit downloads (the entry, its static imports, the CSS, the page) and the whole app
const files = [];
const walk = (dir) => readdirSync(dir).forEach((f) => {
  const p = join(dir, f);
  if (statSync(p).isDirectory()) walk(p); else files.push(p);
});
walk(staging);
const sizes = Object.fromEntries(files.map((p) => {
  const data = readFileSync(p);
  return [relative(staging, p), { bytes: data.length, gzip: gzipSync(data).length }];
}));
const first = new Set(["index.html", entry("main.js"), entry("portal.css")]);
for (const imp of outputs[relative(process.cwd(), join(staging, entry("main.js")))]?.imports || []) {
  if (imp.kind === "import-statement") first.add(relative(staging, imp.path));
}
const sum = (names, key) => names.reduce((n, f) => n + (sizes[f] ? sizes[f][key] : 0), 0);
const report = {
  first_load: { files: [...first], bytes: sum([...first], "bytes"), gzip: sum([...first], "gzip") },
  total: { files: files.length, bytes: sum(Object.keys(sizes), "bytes"), gzip: sum(Object.keys(sizes), "gzip") },
  files: sizes,
};
writeFileSync(join(staging, "build.json"), JSON.stringify(report, null, 1));

rmSync(out, { recursive: true, force: true });
renameSync(staging, out);
console.log("portal: built %s (first load %d KB, %d KB gzip; all %d files %d KB, %d KB gzip)",
  relative(process.cwd(), out), Math.round(report.first_load.bytes / 1024), Math.round(report.first_load.gzip / 1024),
  report.total.files, Math.round(report.total.bytes / 1024), Math.round(report.total.gzip / 1024));
