// Self-drawn SVG charts for benchmark results: horizontal bars (e.g. QPS per system, log scale)
// and lines (e.g. recall vs QPS curves for approximate indexes). No dependencies; plain SVG 1.1.

/** One bar. */
export interface Bar {
  label: string;
  value: number;
  /** Text drawn after the bar (defaults to the formatted value). */
  annotation?: string;
  /** Draw in the accent colour (our own results). */
  highlight?: boolean;
  /** Bars with the same group share a colour and are separated from other groups by a gap. */
  group?: string;
}

export interface BarChartOptions {
  title: string;
  subtitle?: string;
  bars: Bar[];
  /** Axis caption, e.g. "queries per second (log scale)". */
  axisLabel: string;
  /** Logarithmic value axis (default true): needed when values span decades. */
  log?: boolean;
  width?: number;
  /** Footer lines (environment, command). */
  footer?: string[];
}

export interface LinePoint {
  x: number;
  y: number;
  /** Shown next to the point (e.g. "ef=64"). */
  label?: string;
}

export interface LineSeries {
  name: string;
  points: LinePoint[];
  highlight?: boolean;
}

export interface LineChartOptions {
  title: string;
  subtitle?: string;
  series: LineSeries[];
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  /** Fixed axis ranges; default from the data. */
  xDomain?: [number, number];
  yDomain?: [number, number];
  width?: number;
  height?: number;
  footer?: string[];
  /** Clip lines and markers to the plot area (for fixed domains that cut off some points). */
  clip?: boolean;
  /** Extra legend lines under the series names (e.g. the dataset and method). */
  legendNotes?: string[];
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const ACCENT = '#d9480f';
const PALETTE = ['#1971c2', '#2f9e44', '#7048e8', '#0c8599', '#e8590c', '#c2255c', '#5c940d', '#495057'];
/** Peer colours of line charts: no orange, which marks our own series. */
const PEER_PALETTE = ['#1971c2', '#2f9e44', '#7048e8', '#0c8599', '#343a40', '#a61e4d', '#5c940d', '#862e9c'];

/** Escapes text for SVG content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** Compact number formatting for axes and annotations (1.2k, 35, 0.41). */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e4) return `${trim(value / 1e3)}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

function trim(v: number): string {
  // Three significant digits without trailing zeros: 10 -> "10", 12.5 -> "12.5", 1.234 -> "1.23".
  return String(Number(v.toPrecision(3)));
}

/** A linear or log10 scale from a data domain to a pixel range. */
interface Scale {
  (v: number): number;
  ticks: number[];
}

function makeScale(domain: [number, number], range: [number, number], log: boolean): Scale {
  let [d0, d1] = domain;
  if (log) {
    d0 = Math.max(d0, Number.MIN_VALUE);
    const l0 = Math.log10(d0);
    const l1 = Math.log10(Math.max(d1, d0 * 1.0001));
    const f = ((v: number) => range[0] + ((Math.log10(Math.max(v, d0)) - l0) / (l1 - l0)) * (range[1] - range[0])) as Scale;
    f.ticks = logTicks(d0, d1);
    return f;
  }
  if (d1 === d0) d1 = d0 + 1;
  const f = ((v: number) => range[0] + ((v - d0) / (d1 - d0)) * (range[1] - range[0])) as Scale;
  f.ticks = linearTicks(d0, d1);
  return f;
}

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  const e0 = Math.floor(Math.log10(lo));
  const e1 = Math.ceil(Math.log10(hi));
  const decades = Math.log10(hi / lo);
  const mantissas = decades <= 2.5 ? [1, 2, 5] : [1];
  for (let e = e0; e <= e1; e++) {
    for (const m of mantissas) {
      const t = m * 10 ** e;
      if (t >= lo * 0.999 && t <= hi * 1.001) ticks.push(t);
    }
  }
  return ticks;
}

function linearTicks(lo: number, hi: number): number[] {
  const span = hi - lo;
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= 6) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Log domain padded to whole decades around the data. */
function logDomain(values: number[]): [number, number] {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return [1, 10];
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...positive) * 1.0001));
  return [lo, hi];
}

function header(width: number, height: number, title: string, subtitle?: string): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="26" font-size="17" font-weight="600" fill="#212529">${escapeXml(title)}</text>`,
  ];
  if (subtitle) out.push(`<text x="16" y="46" font-size="12" fill="#495057">${escapeXml(subtitle)}</text>`);
  return out;
}

function footerLines(lines: string[] | undefined, y: number): string[] {
  return (lines ?? []).map((line, i) => `<text x="16" y="${y + i * 15}" font-size="10.5" fill="#868e96">${escapeXml(line)}</text>`);
}

/** Horizontal bar chart, one bar per row, values on a (default log) axis. */
export function barChart(options: BarChartOptions): string {
  const width = options.width ?? 860;
  const log = options.log ?? true;
  const bars = options.bars;
  const labelWidth = Math.min(320, 16 + 6.6 * Math.max(10, ...bars.map((b) => b.label.length)));
  const left = labelWidth + 12;
  const right = width - 90;
  const top = options.subtitle ? 66 : 50;
  const rowH = 24;
  const groupGap = 8;
  const groups = new Map<string, number>();
  let y = top + 8;
  const rows = bars.map((bar, i) => {
    const g = bar.group ?? '';
    if (!groups.has(g)) groups.set(g, groups.size);
    if (i > 0 && (bars[i - 1].group ?? '') !== g) y += groupGap;
    const row = { bar, y, colour: bar.highlight ? ACCENT : PALETTE[(groups.get(g) ?? 0) % PALETTE.length] };
    y += rowH;
    return row;
  });
  const axisY = y + 6;
  const values = bars.map((b) => b.value);
  const domain: [number, number] = log ? logDomain(values) : [0, Math.max(1e-12, ...values.filter(Number.isFinite)) * 1.05];
  const x = makeScale(domain, [left, right], log);
  const footer = options.footer ?? [];
  const height = axisY + 40 + footer.length * 15 + 8;

  const out = header(width, height, options.title, options.subtitle);
  for (const t of x.ticks) {
    const px = x(t).toFixed(1);
    out.push(`<line x1="${px}" y1="${top}" x2="${px}" y2="${axisY}" stroke="#e9ecef"/>`);
    out.push(`<text x="${px}" y="${axisY + 14}" font-size="11" fill="#495057" text-anchor="middle">${escapeXml(formatNumber(t))}</text>`);
  }
  out.push(`<line x1="${left}" y1="${axisY}" x2="${right}" y2="${axisY}" stroke="#adb5bd"/>`);
  out.push(`<text x="${((left + right) / 2).toFixed(1)}" y="${axisY + 30}" font-size="12" fill="#343a40" text-anchor="middle">${escapeXml(options.axisLabel)}</text>`);
  for (const { bar, y: rowY, colour } of rows) {
    const valid = Number.isFinite(bar.value) && (!log || bar.value > 0);
    const w = valid ? Math.max(1, x(bar.value) - left) : 0;
    const weight = bar.highlight ? ' font-weight="600"' : '';
    out.push(`<text x="${left - 8}" y="${rowY + 15}" font-size="12" fill="#212529" text-anchor="end"${weight}>${escapeXml(bar.label)}</text>`);
    if (valid) out.push(`<rect x="${left}" y="${rowY + 3}" width="${w.toFixed(1)}" height="${rowH - 7}" rx="2" fill="${colour}"/>`);
    const note = bar.annotation ?? (valid ? formatNumber(bar.value) : 'n/a');
    out.push(`<text x="${(left + w + 6).toFixed(1)}" y="${rowY + 15}" font-size="11.5" fill="#212529"${weight}>${escapeXml(note)}</text>`);
  }
  out.push(...footerLines(footer, axisY + 52), '</svg>');
  return `${out.join('\n')}\n`;
}

/** Line chart with markers, e.g. recall (x) vs queries per second (y, log). */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 760;
  const height0 = options.height ?? 460;
  const footer = options.footer ?? [];
  const height = height0 + footer.length * 15;
  const top = options.subtitle ? 66 : 50;
  const left = 70;
  const legendWidth = Math.max(170, 52 + 6.6 * Math.max(0, ...options.series.map((s) => s.name.length)));
  const right = width - legendWidth;
  const bottom = height0 - 56;
  const xs = options.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = options.series.flatMap((s) => s.points.map((p) => p.y));
  const xDomain = options.xDomain ?? (options.xLog ? logDomain(xs) : padLinear(xs));
  const yDomain = options.yDomain ?? (options.yLog ? logDomain(ys) : padLinear(ys));
  const x = makeScale(xDomain, [left, right], options.xLog ?? false);
  const y = makeScale(yDomain, [bottom, top], options.yLog ?? false);

  const out = header(width, height, options.title, options.subtitle);
  for (const t of x.ticks) {
    const px = x(t).toFixed(1);
    out.push(`<line x1="${px}" y1="${top}" x2="${px}" y2="${bottom}" stroke="#e9ecef"/>`);
    out.push(`<text x="${px}" y="${bottom + 16}" font-size="11" fill="#495057" text-anchor="middle">${escapeXml(formatNumber(t))}</text>`);
  }
  for (const t of y.ticks) {
    const py = y(t).toFixed(1);
    out.push(`<line x1="${left}" y1="${py}" x2="${right}" y2="${py}" stroke="#e9ecef"/>`);
    out.push(`<text x="${left - 6}" y="${(Number(py) + 4).toFixed(1)}" font-size="11" fill="#495057" text-anchor="end">${escapeXml(formatNumber(t))}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#adb5bd"/>`);
  out.push(`<text x="${((left + right) / 2).toFixed(1)}" y="${bottom + 36}" font-size="12" fill="#343a40" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  out.push(
    `<text transform="translate(18 ${((top + bottom) / 2).toFixed(1)}) rotate(-90)" font-size="12" fill="#343a40" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );
  const clipId = `plot-${Math.random().toString(36).slice(2, 8)}`;
  const clipAttr = options.clip ? ` clip-path="url(#${clipId})"` : '';
  if (options.clip) {
    out.push(`<defs><clipPath id="${clipId}"><rect x="${left - 4}" y="${top - 4}" width="${right - left + 8}" height="${bottom - top + 8}"/></clipPath></defs>`);
  }
  // Our series use the accent colour; the others take palette colours in order.
  let peer = 0;
  options.series.forEach((s, i) => {
    const colour = s.highlight ? (s === options.series.find((t) => t.highlight) ? ACCENT : '#f08c00') : PEER_PALETTE[peer++ % PEER_PALETTE.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.length > 1) {
      const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="${s.highlight ? 2.5 : 1.8}"${clipAttr}/>`);
    }
    for (const p of pts) {
      out.push(`<circle cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="3.2" fill="${colour}"${clipAttr}/>`);
      if (p.label) out.push(`<text x="${(x(p.x) + 5).toFixed(1)}" y="${(y(p.y) - 5).toFixed(1)}" font-size="9.5" fill="${colour}"${clipAttr}>${escapeXml(p.label)}</text>`);
    }
    const ly = top + 8 + i * 18;
    out.push(`<line x1="${right + 14}" y1="${ly}" x2="${right + 34}" y2="${ly}" stroke="${colour}" stroke-width="2.5"/>`);
    out.push(`<text x="${right + 40}" y="${ly + 4}" font-size="11.5" fill="#212529"${s.highlight ? ' font-weight="600"' : ''}>${escapeXml(s.name)}</text>`);
  });
  (options.legendNotes ?? []).forEach((note, j) => {
    const ly = top + 8 + options.series.length * 18 + 10 + j * 14;
    out.push(`<text x="${right + 14}" y="${ly + 4}" font-size="10" fill="#868e96">${escapeXml(note)}</text>`);
  });
  out.push(...footerLines(footer, height0 - 8), '</svg>');
  return `${out.join('\n')}\n`;
}

function padLinear(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
  return [lo - pad, hi + pad];
}
