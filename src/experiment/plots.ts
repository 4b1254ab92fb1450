// SVG charts of the experiment: curves over wall-clock per run, per-arm intervals (mean, min-max, each seed), scatter.
import { esc, formatTick, frameParts, niceTicks, PALETTE, xTickParts, yGridParts } from '../monitor/svg_chart.js';

interface Axes {
  parts: string[];
  sx: (x: number) => number;
  sy: (y: number) => number;
  left: number;
  top: number;
  plotW: number;
  plotH: number;
  height: number;
}

/** Frame, title, grid and y ticks; x ticks only for numeric x (`xs` given). */
function axes(o: { title: string; xLabel: string; yLabel: string; width: number; height: number; ys: number[]; xs?: number[]; bottom: number }): Axes {
  const left = 62;
  const right = 16;
  const top = 30;
  const plotW = o.width - left - right;
  const plotH = o.height - top - o.bottom;
  const finite = (v: number[]): number[] => v.filter(Number.isFinite);
  const ys = finite(o.ys);
  const yt = niceTicks(Math.min(...(ys.length ? ys : [0])), Math.max(...(ys.length ? ys : [1])));
  const [y0, y1] = [yt[0]!, yt.at(-1)!];
  const xs = finite(o.xs ?? []);
  const xt = o.xs ? niceTicks(Math.min(...(xs.length ? xs : [0])), Math.max(...(xs.length ? xs : [1]))) : [];
  const [x0, x1] = o.xs ? [xt[0]!, xt.at(-1)!] : [0, 1];
  const sx = (x: number): number => left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (y: number): number => top + plotH - ((y - y0) / (y1 - y0 || 1)) * plotH;
  const parts = frameParts({ width: o.width, height: o.height, left, right, top, bottom: o.bottom }, o.title, o.xLabel, o.yLabel);
  parts.push(...yGridParts(yt, sy, left, plotW), ...xTickParts(xt, sx, top + plotH));
  return { parts, sx, sy, left, top, plotW, plotH, height: o.height };
}

function close(a: Axes): string {
  a.parts.push(`<rect x="${a.left}" y="${a.top}" width="${a.plotW}" height="${a.plotH}" fill="none" stroke="#444"/>`, '</svg>');
  return a.parts.join('\n');
}

function refLine(a: Axes, ref: { y: number; label: string } | undefined): void {
  if (!ref || !Number.isFinite(ref.y)) return;
  const y = a.sy(ref.y).toFixed(1);
  a.parts.push(`<line x1="${a.left}" x2="${a.left + a.plotW}" y1="${y}" y2="${y}" stroke="#555" stroke-dasharray="5 4"/>`);
  a.parts.push(`<text x="${a.left + a.plotW - 4}" y="${Number(y) - 4}" text-anchor="end" fill="#555">${esc(ref.label)}</text>`);
}

function legend(a: Axes, groups: string[], colorOf: (g: string) => string): void {
  groups.forEach((g, i) => {
    const lx = a.left + (i % 4) * 150;
    const ly = a.height - 30 + Math.floor(i / 4) * 13 - (groups.length > 4 ? 8 : 0);
    a.parts.push(`<rect x="${lx}" y="${ly}" width="12" height="3" fill="${colorOf(g)}"/>`, `<text x="${lx + 16}" y="${ly + 4}">${esc(g)}</text>`);
  });
}

/** A colour per group, stable in first-seen order. */
export function groupColors(groups: readonly string[]): (g: string) => string {
  const order = [...new Set(groups)];
  return (g) => PALETTE[Math.max(0, order.indexOf(g)) % PALETTE.length]!;
}

export interface RunCurve {
  group: string;
  points: [number, number][];
}

/** One polyline per run, coloured by its group (arm); the legend names the groups. */
export function curvesSvg(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  curves: RunCurve[];
  ref?: { y: number; label: string };
  /** A vertical reference line (a matched KL, a deadline). */
  refX?: { x: number; label: string };
  width?: number;
  height?: number;
  color?: (g: string) => string;
}): string {
  const all = o.curves.flatMap((c) => c.points);
  const a = axes({ ...o, width: o.width ?? 680, height: o.height ?? 320, bottom: 58, xs: [...all.map((p) => p[0]), ...(o.refX ? [o.refX.x] : [])], ys: [...all.map((p) => p[1]), ...(o.ref ? [o.ref.y] : [])] });
  const groups = [...new Set(o.curves.map((c) => c.group))];
  const color = o.color ?? groupColors(groups);
  refLine(a, o.ref);
  if (o.refX && Number.isFinite(o.refX.x)) {
    const x = a.sx(o.refX.x).toFixed(1);
    a.parts.push(`<line x1="${x}" x2="${x}" y1="${a.top}" y2="${a.top + a.plotH}" stroke="#555" stroke-dasharray="5 4"/>`);
    a.parts.push(`<text x="${Number(x) + 4}" y="${a.top + 12}" fill="#555">${esc(o.refX.label)}</text>`);
  }
  for (const c of o.curves) {
    const pts = c.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])).map(([x, y]) => `${a.sx(x).toFixed(1)},${a.sy(y).toFixed(1)}`);
    if (pts.length > 1) a.parts.push(`<polyline fill="none" stroke="${color(c.group)}" stroke-width="1.6" stroke-opacity="0.85" points="${pts.join(' ')}"/>`);
    for (const p of pts) {
      const [cx, cy] = p.split(',');
      a.parts.push(`<circle cx="${cx}" cy="${cy}" r="2.2" fill="${color(c.group)}"/>`);
    }
  }
  legend(a, groups, color);
  return close(a);
}

export interface IntervalCategory {
  label: string;
  /** One value per seed. */
  values: number[];
}

/** Per category: the min-max whisker, the mean as a wide tick and every seed as a dot. */
export function intervalsSvg(o: { title: string; yLabel: string; categories: IntervalCategory[]; ref?: { y: number; label: string }; height?: number; color?: (label: string) => string }): string {
  const width = Math.max(560, 120 * o.categories.length + 80);
  const a = axes({ title: o.title, xLabel: 'mean (bar), min-max (whisker), each seed (dot)', yLabel: o.yLabel, width, height: o.height ?? 300, bottom: 58, ys: [...o.categories.flatMap((c) => c.values), ...(o.ref ? [o.ref.y] : [])] });
  refLine(a, o.ref);
  const color = o.color ?? groupColors(o.categories.map((c) => c.label));
  const slot = a.plotW / Math.max(1, o.categories.length);
  o.categories.forEach((c, i) => {
    const v = c.values.filter(Number.isFinite);
    const cx = a.left + slot * (i + 0.5);
    a.parts.push(`<text x="${cx.toFixed(1)}" y="${a.top + a.plotH + 16}" text-anchor="middle" font-size="10">${esc(c.label)}</text>`);
    if (v.length === 0) return;
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const col = color(c.label);
    a.parts.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${a.sy(Math.min(...v)).toFixed(1)}" y2="${a.sy(Math.max(...v)).toFixed(1)}" stroke="${col}" stroke-width="2"/>`);
    a.parts.push(`<line x1="${(cx - slot * 0.25).toFixed(1)}" x2="${(cx + slot * 0.25).toFixed(1)}" y1="${a.sy(mean).toFixed(1)}" y2="${a.sy(mean).toFixed(1)}" stroke="${col}" stroke-width="4"/>`);
    a.parts.push(`<text x="${(cx + slot * 0.27).toFixed(1)}" y="${(a.sy(mean) + 4).toFixed(1)}" font-size="10">${formatTick(mean)}</text>`);
    v.forEach((x, k) => a.parts.push(`<circle cx="${(cx + (k - (v.length - 1) / 2) * 6).toFixed(1)}" cy="${a.sy(x).toFixed(1)}" r="2.6" fill="#fff" stroke="${col}"/>`));
  });
  return close(a);
}

export interface ScatterPoint {
  group: string;
  x: number;
  y: number;
}

export function scatterSvg(o: { title: string; xLabel: string; yLabel: string; points: ScatterPoint[]; ref?: { y: number; label: string }; color?: (g: string) => string }): string {
  const pts = o.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const a = axes({ ...o, width: 680, height: 320, bottom: 58, xs: pts.map((p) => p.x), ys: [...pts.map((p) => p.y), ...(o.ref ? [o.ref.y] : [])] });
  const groups = [...new Set(o.points.map((p) => p.group))];
  const color = o.color ?? groupColors(groups);
  refLine(a, o.ref);
  for (const p of pts) a.parts.push(`<circle cx="${a.sx(p.x).toFixed(1)}" cy="${a.sy(p.y).toFixed(1)}" r="3.5" fill="${color(p.group)}" fill-opacity="0.8"/>`);
  legend(a, groups, color);
  return close(a);
}
