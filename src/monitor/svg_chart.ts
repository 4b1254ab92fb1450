// Hand-rolled SVG charts for run reports: line charts with gaps, and bar charts; no native or browser dependencies.

export interface ChartSeries {
  name: string;
  /** [x, y] points in x order; a null y breaks the line. */
  points: [number, number | null][];
  color?: string;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel?: string;
  series: ChartSeries[];
  width?: number;
  height?: number;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf'];

/** Text made safe inside SVG/XML. */
export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round tick values (1, 2, 5 x 10^k steps) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  // A range below float resolution of its magnitude (rates like 239.99999999999997 vs 240) is flat: pad it.
  if (max - min <= 1e-9 * Math.max(Math.abs(min), Math.abs(max))) {
    const pad = Math.abs(max) > 0 ? Math.abs(max) * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(min / step);
  const last = Math.ceil(max / step - 1e-9);
  // By index, not by repeated addition, so rounding cannot stall the loop; the bound is a backstop.
  const out: number[] = [];
  for (let i = first; i <= last && out.length <= 4 * count + 2; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

/** Short tick text: 1200 -> 1.2k, 0.000123 -> 1.23e-4. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  if (a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** A chart's size and the margins around its plot area. */
export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** Horizontal grid lines with their y tick labels, left of a plot `plotW` wide starting at `left`. */
export function yGridParts(ticks: readonly number[], sy: (y: number) => number, left: number, plotW: number): string[] {
  return ticks.flatMap((y) => [
    `<line x1="${left}" x2="${left + plotW}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" stroke="#e5e5e5"/>`,
    `<text x="${left - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${formatTick(y)}</text>`,
  ]);
}

/** x tick marks with their labels, below the plot's bottom edge at `bottomY`. */
export function xTickParts(ticks: readonly number[], sx: (x: number) => number, bottomY: number): string[] {
  return ticks.flatMap((x) => [
    `<line x1="${sx(x).toFixed(1)}" x2="${sx(x).toFixed(1)}" y1="${bottomY}" y2="${bottomY + 4}" stroke="#444"/>`,
    `<text x="${sx(x).toFixed(1)}" y="${bottomY + 16}" text-anchor="middle">${formatTick(x)}</text>`,
  ]);
}

/** The opening of a chart: the svg element, background, title and axis labels. */
export function frameParts(f: Frame, title: string, xLabel: string, yLabel: string | undefined): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${f.width}" height="${f.height}" fill="#fff"/>`,
    `<text x="${f.width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${(f.left + f.width - f.right) / 2}" y="${f.height - 6}" text-anchor="middle">${esc(xLabel)}</text>`,
    yLabel ? `<text transform="translate(14 ${(f.top + f.height - f.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>` : '',
  ];
}

export function lineChartSvg(o: LineChartOptions): string {
  const f: Frame = { width: o.width ?? 640, height: o.height ?? 300, left: 62, right: 16, top: 30, bottom: 58 };
  const pts = o.series.flatMap((s) => s.points.filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1]) && Number.isFinite(p[0])));
  const parts = frameParts(f, o.title, o.xLabel, o.yLabel);
  const plotW = f.width - f.left - f.right;
  const plotH = f.height - f.top - f.bottom;
  if (pts.length === 0) {
    parts.push(`<text x="${f.width / 2}" y="${f.height / 2}" text-anchor="middle" fill="#888">no data</text>`, '</svg>');
    return parts.filter(Boolean).join('\n');
  }
  const range = (i: 0 | 1): [number, number] => pts.reduce(([lo, hi], p) => [Math.min(lo, p[i]), Math.max(hi, p[i])], [Infinity, -Infinity]);
  const xt = niceTicks(...range(0));
  const yt = niceTicks(...range(1));
  const [x0, x1, y0, y1] = [xt[0]!, xt.at(-1)!, yt[0]!, yt.at(-1)!];
  const sx = (x: number): number => f.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number): number => f.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  parts.push(...yGridParts(yt, sy, f.left, plotW));
  parts.push(...xTickParts(xt, sx, f.top + plotH));
  parts.push(`<rect x="${f.left}" y="${f.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`);
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    // Each unbroken run of points becomes one polyline; a lone point becomes a dot.
    let run: string[] = [];
    const emit = (): void => {
      if (run.length === 1) {
        const [cx, cy] = run[0]!.split(',');
        parts.push(`<circle cx="${cx}" cy="${cy}" r="2" fill="${color}"/>`);
      } else if (run.length > 1) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${run.join(' ')}"/>`);
      run = [];
    };
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y)) emit();
      else run.push(`${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    }
    emit();
    const lx = f.left + i * 150;
    parts.push(`<rect x="${lx}" y="${f.height - 30}" width="12" height="3" fill="${color}"/>`);
    parts.push(`<text x="${lx + 16}" y="${f.height - 26}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.filter(Boolean).join('\n');
}

export interface BarChartOptions {
  title: string;
  xLabel: string;
  yLabel?: string;
  labels: string[];
  values: number[];
  width?: number;
  height?: number;
  color?: string;
}

export function barChartSvg(o: BarChartOptions): string {
  const f: Frame = { width: o.width ?? 640, height: o.height ?? 260, left: 62, right: 16, top: 30, bottom: 40 };
  const parts = frameParts(f, o.title, o.xLabel, o.yLabel);
  const plotW = f.width - f.left - f.right;
  const plotH = f.height - f.top - f.bottom;
  const yt = niceTicks(0, Math.max(1, ...o.values));
  const top = yt.at(-1)!;
  const sy = (y: number): number => f.top + plotH - (y / top) * plotH;
  parts.push(...yGridParts(yt, sy, f.left, plotW));
  const slot = plotW / Math.max(1, o.values.length);
  o.values.forEach((v, i) => {
    const x = f.left + i * slot + slot * 0.15;
    parts.push(`<rect x="${x.toFixed(1)}" y="${sy(v).toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${(f.top + plotH - sy(v)).toFixed(1)}" fill="${o.color ?? PALETTE[0]}"/>`);
    parts.push(`<text x="${(x + slot * 0.35).toFixed(1)}" y="${f.top + plotH + 14}" text-anchor="middle">${esc(o.labels[i] ?? '')}</text>`);
  });
  parts.push(`<rect x="${f.left}" y="${f.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`, '</svg>');
  return parts.filter(Boolean).join('\n');
}
