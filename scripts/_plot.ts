/**
 * Minimal, dependency-free SVG line charts for reports (learning curves).
 *
 * @module
 */
import { maxOf, minOf } from "../core/arrays.ts";

/** One line of a chart. */
export interface Series {
  readonly label: string;
  readonly x: number[];
  readonly y: number[];
  /** Optional band (e.g. min/max over seeds), same length as y. */
  readonly lo?: number[];
  readonly hi?: number[];
}

const COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function ticks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toPrecision(6));
  return out;
}

/**
 * Renders a line chart as a standalone SVG document.
 * @param series the lines
 * @param opts title, axis labels and an optional horizontal reference line
 * @returns SVG text
 */
export function lineChart(
  series: Series[],
  opts: {
    title: string;
    xLabel: string;
    yLabel: string;
    hline?: { y: number; label: string };
    /** A fixed y range (e.g. [0, 1] for fractions) instead of the data's. */
    yRange?: [number, number];
  },
): string {
  const longest = Math.max(8, ...series.map((s) => s.label.length));
  const R = 50 + 7 * longest, W = 490 + R, H = 400, L = 60, T = 36, B = 48;
  const xs = series.flatMap((s) => s.x);
  const ys = series.flatMap((s) => [...s.y, ...(s.lo ?? []), ...(s.hi ?? [])]).filter(
    Number.isFinite,
  );
  if (opts.hline) ys.push(opts.hline.y);
  const x0 = Math.min(0, ...xs), x1 = Math.max(1, ...xs);
  let [y0, y1] = opts.yRange ?? [minOf(ys), maxOf(ys)];
  if (!(y1 > y0)) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - R / 2}" y="20" text-anchor="middle" font-size="14">${
      esc(opts.title)
    }</text>`,
  ];
  for (const t of ticks(y0, y1)) {
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/>`,
      `<text x="${L - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`,
    );
  }
  for (const t of ticks(x0, x1)) {
    parts.push(
      `<text x="${px(t)}" y="${H - B + 16}" text-anchor="middle">${
        t.toLocaleString("en-US")
      }</text>`,
    );
  }
  parts.push(
    `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`,
    `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
    `<text x="14" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 14 ${
      (T + H - B) / 2
    })">${esc(opts.yLabel)}</text>`,
  );
  if (opts.hline) {
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${py(opts.hline.y)}" y2="${
        py(opts.hline.y)
      }" stroke="#777" stroke-dasharray="4 4"/>`,
      `<text x="${W - R - 4}" y="${py(opts.hline.y) - 4}" text-anchor="end" fill="#555">${
        esc(opts.hline.label)
      }</text>`,
    );
  }
  series.forEach((s, k) => {
    const c = COLORS[k % COLORS.length]!;
    if (s.lo && s.hi) {
      const up = s.x.map((x, i) => `${px(x)},${py(s.hi![i]!)}`);
      const dn = s.x.map((x, i) => `${px(x)},${py(s.lo![i]!)}`).reverse();
      parts.push(`<polygon points="${[...up, ...dn].join(" ")}" fill="${c}" opacity="0.12"/>`);
    }
    const pts = s.x.map((x, i) => `${px(x)},${py(s.y[i]!)}`).join(" ");
    parts.push(
      `<polyline class="series" points="${pts}" fill="none" stroke="${c}" stroke-width="2"/>`,
    );
    parts.push(
      `<line x1="${W - R + 12}" x2="${W - R + 32}" y1="${T + 10 + 18 * k}" y2="${
        T + 10 + 18 * k
      }" stroke="${c}" stroke-width="2"/>`,
      `<text x="${W - R + 38}" y="${T + 14 + 18 * k}">${esc(s.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** One row of a forest chart: an estimate and its interval. */
export interface ForestRow {
  readonly label: string;
  readonly est: number;
  readonly lo: number;
  readonly hi: number;
}

/**
 * Renders a forest chart as a standalone SVG document: one panel per group (each with its own x
 * scale, so win rates and returns can sit side by side), one row per estimate with its interval,
 * and a dashed line at 0 (no difference).
 * @param panels the groups, each titled, with its rows
 * @param opts the chart's title and the x axis label
 * @returns SVG text
 */
export function forestChart(
  panels: { title: string; rows: ForestRow[] }[],
  opts: { title: string; xLabel: string },
): string {
  const labelW = 8 + 7 * Math.max(8, ...panels.flatMap((p) => p.rows.map((r) => r.label.length)));
  const PW = 260, gap = 30, T = 44, rowH = 22, B = 44;
  const rows = Math.max(1, ...panels.map((p) => p.rows.length));
  const W = labelW + panels.length * (PW + gap) + 10, H = T + rows * rowH + B;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
  ];
  const labels = panels[0]?.rows.map((r) => r.label) ?? [];
  labels.forEach((l, i) =>
    parts.push(
      `<text x="${labelW - 8}" y="${T + i * rowH + rowH / 2 + 4}" text-anchor="end">${
        esc(l)
      }</text>`,
    )
  );
  panels.forEach((p, k) => {
    const x0p = labelW + k * (PW + gap);
    const vals = [0, ...p.rows.flatMap((r) => [r.lo, r.hi, r.est])].filter(Number.isFinite);
    let [a, b] = [minOf(vals), maxOf(vals)];
    if (!(b > a)) [a, b] = [a - 1, b + 1];
    const pad = (b - a) * 0.06;
    a -= pad;
    b += pad;
    const px = (x: number) => x0p + ((x - a) / (b - a)) * PW;
    parts.push(
      `<text x="${x0p + PW / 2}" y="${T - 10}" text-anchor="middle">${esc(p.title)}</text>`,
      `<rect x="${x0p}" y="${T}" width="${PW}" height="${rows * rowH}" fill="none" stroke="#333"/>`,
      `<line x1="${px(0)}" x2="${px(0)}" y1="${T}" y2="${
        T + rows * rowH
      }" stroke="#777" stroke-dasharray="4 4"/>`,
    );
    for (const t of ticks(a, b, 4)) {
      parts.push(
        `<text x="${px(t)}" y="${T + rows * rowH + 16}" text-anchor="middle">${
          t.toLocaleString("en-US")
        }</text>`,
      );
    }
    p.rows.forEach((r, i) => {
      const y = T + i * rowH + rowH / 2, c = COLORS[i % COLORS.length]!;
      if (Number.isFinite(r.lo) && Number.isFinite(r.hi)) {
        parts.push(
          `<line class="interval" x1="${px(r.lo)}" x2="${
            px(r.hi)
          }" y1="${y}" y2="${y}" stroke="${c}" stroke-width="2"/>`,
        );
      }
      if (Number.isFinite(r.est)) {
        parts.push(`<circle class="estimate" cx="${px(r.est)}" cy="${y}" r="4" fill="${c}"/>`);
      }
    });
  });
  parts.push("</svg>");
  return parts.join("\n");
}
