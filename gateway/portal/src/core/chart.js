// Plain SVG charts. Each is an image with a text summary for screen readers, and its numbers
// are also given as a table (a chart is for looking; the table for reading).
import { h, svg } from "./dom.js";

// bars: [{label, value, title}]
export function barChart(bars, { title, format = String, height = 180 } = {}) {
  // a few bars get a narrow chart drawn at its own size (stretched wide, its labels would be too)
  const narrow = bars.length <= 4;
  const width = narrow ? 420 : Math.max(320, bars.length * 28);
  const pad = { top: 12, right: 8, bottom: 28, left: 8 };
  const max = Math.max(1, ...bars.map((b) => b.value));
  const slot = (width - pad.left - pad.right) / Math.max(1, bars.length);
  const plot = height - pad.top - pad.bottom;
  const summary = bars.length ? `${title}: ${bars.map((b) => `${b.label} ${format(b.value)}`).join(", ")}` : `${title}: no data`;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: narrow ? "chart chart-narrow" : "chart", role: "img", "aria-label": summary, preserveAspectRatio: narrow ? "xMinYMid meet" : "none" },
    svg("title", {}, summary),
    svg("line", { x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom, class: "axis" }),
    bars.map((b, i) => {
      const barH = Math.round((b.value / max) * plot);
      const x = pad.left + i * slot + slot * 0.15;
      return svg("g", {},
        svg("rect", { x: x.toFixed(1), y: height - pad.bottom - barH, width: (slot * 0.7).toFixed(1), height: Math.max(barH, b.value ? 1 : 0), class: "bar", rx: 2 },
          svg("title", {}, `${b.title || b.label}: ${format(b.value)}`)),
        (bars.length <= 16 || i % Math.ceil(bars.length / 12) === 0)
          ? svg("text", { x: (x + slot * 0.35).toFixed(1), y: height - 10, class: "tick", "text-anchor": "middle" }, b.label) : null);
    }));
  const data = h("details", { class: "chart-data" }, h("summary", {}, "The numbers"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), h("th", { scope: "col" }, "Value"))),
      h("tbody", {}, bars.map((b) => h("tr", {}, h("td", {}, b.title || b.label), h("td", {}, format(b.value)))))));
  return h("figure", { class: "figure" }, h("div", { class: "chart-scroll" }, chart), h("figcaption", {}, title), data);
}

// a horizontal share bar (status mix): parts [{label, value, tone}]
export function shareBar(parts, title) {
  const total = parts.reduce((n, p) => n + p.value, 0) || 1;
  let x = 0;
  const summary = `${title}: ${parts.map((p) => `${p.label} ${p.value}`).join(", ")}`;
  return h("figure", { class: "figure" },
    svg("svg", { viewBox: "0 0 100 8", class: "share", role: "img", "aria-label": summary, preserveAspectRatio: "none" },
      svg("title", {}, summary),
      parts.filter((p) => p.value).map((p) => {
        const w = (p.value / total) * 100;
        const rect = svg("rect", { x: x.toFixed(2), y: 0, width: w.toFixed(2), height: 8, class: "share-" + p.tone });
        x += w;
        return rect;
      })),
    h("figcaption", {}, h("ul", { class: "legend" }, parts.map((p) => h("li", {}, h("span", { class: "swatch share-" + p.tone, "aria-hidden": "true" }), `${p.label}: ${p.value} (${Math.round((p.value / total) * 100)}%)`)))));
}

// lines over time (burn-down, trends): series [{name, points: [{x: Date, y}], tone, dashed}]
export function lineChart(series, { title, format = String, height = 200, yMin = 0 } = {}) {
  const width = 640;
  const pad = { top: 12, right: 12, bottom: 28, left: 8 };
  const all = series.flatMap((s) => s.points);
  const summary = `${title}: ` + (all.length ? series.map((s) => `${s.name} ${s.points.map((p) => `${p.x.toISOString().slice(0, 10)} ${format(p.y)}`).join(", ")}`).join("; ") : "no data");
  const xs = all.map((p) => +p.x);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 86400000);
  const y1 = Math.max(1, ...all.map((p) => p.y)), y0 = Math.min(yMin, ...all.map((p) => p.y));
  const sx = (x) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y) => height - pad.bottom - ((y - y0) / (y1 - y0 || 1)) * (height - pad.top - pad.bottom);
  const ticks = all.length ? [x0, (x0 + x1) / 2, x1] : [];
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart line-chart", role: "img", "aria-label": summary, preserveAspectRatio: "none" },
    svg("title", {}, summary),
    svg("line", { x1: pad.left, x2: width - pad.right, y1: sy(y0), y2: sy(y0), class: "axis" }),
    series.map((s) => s.points.length ? svg("polyline", {
      points: s.points.map((p) => `${sx(+p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" "),
      class: ["line", "line-" + (s.tone || "main"), s.dashed && "dashed"].filter(Boolean).join(" "),
    }) : null),
    ticks.map((t, i) => svg("text", { x: sx(t).toFixed(1), y: height - 8, class: "tick", "text-anchor": ["start", "middle", "end"][i] },
      new Date(t).toLocaleDateString(undefined, { day: "numeric", month: "short" }))));
  const legend = h("ul", { class: "legend" }, series.map((s) => h("li", {}, h("span", { class: "swatch line-" + (s.tone || "main") + "-swatch", "aria-hidden": "true" }), s.name + (s.dashed ? " (projected)" : ""))));
  const data = h("details", { class: "chart-data" }, h("summary", {}, "The numbers"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Series"), h("th", { scope: "col" }, "Date"), h("th", { scope: "col" }, "Value"))),
      h("tbody", {}, series.flatMap((s) => s.points.map((p) => h("tr", {}, h("td", {}, s.name), h("td", {}, p.x.toLocaleDateString()), h("td", {}, format(p.y))))))));
  return h("figure", { class: "figure" }, h("div", { class: "chart-scroll" }, chart), h("figcaption", {}, title, legend), data);
}
