/**
 * chart.svg, written by hand (no dependency): one panel per model, one horizontal bar per mode of
 * the trusted runtime's time per image stacked by phase, the onnxruntime fp32 time as its own bar
 * and as a dashed reference line across the panel. Each panel has its own linear axis; a bar far
 * beyond the others (usually baseline) is cut with a break mark and labelled with its value.
 */
import { fmtCount, fmtMs, fmtRatio } from './stats.js';
import { PHASE_ORDER, type BenchRecord, type BenchResults } from './types.js';

export const PHASE_COLORS: Record<string, string> = {
  pad: '#bab0ac',
  quantize: '#f28e2b',
  linear: '#4e79a7',
  blind: '#b07aa1',
  transfer: '#8cd17d',
  validate: '#59a14f',
  verify: '#edc948',
  unseal: '#ff9da7',
  requantize: '#e15759',
  nonlinear: '#76b7b2',
  other: '#d0d0d0',
};
const ORT_COLOR = '#3b3b3b';
const PHASE_LABELS: Record<string, string> = {
  pad: 'pad (take a pad: durable ledger write, read)',
  quantize: 'quantize',
  linear: 'linear (trusted compute)',
  blind: 'blind',
  transfer: 'transfer (copy the request out)',
  validate: 'validate reply',
  verify: 'verify (Freivalds)',
  unseal: 'unseal pad',
  requantize: 'requantize (with unblinding and the next quantization, fused)',
  nonlinear: 'non-linear layers',
  other: 'other',
};
const MODE_LABELS: Record<string, string> = { 'ort-fp32': 'onnxruntime fp32' };

const W = 1100;
const LABEL_X = 20;
const BAR_X0 = 170;
const BAR_X1 = 840;
const ROW_H = 24;
const BAR_H = 16;
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(range: number, targetTicks = 5): number {
  const raw = range / targetTicks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  return step * mag;
}

/** Axis labels in one unit (s from 2 s up, else ms) with as many decimals as the step needs. */
function tickLabel(t: number, step: number, axisMax: number): string {
  const inSeconds = axisMax >= 2000;
  const v = inSeconds ? t / 1000 : t;
  const st = inSeconds ? step / 1000 : step;
  const decimals = Math.max(0, Math.min(3, -Math.floor(Math.log10(st) + 1e-9)));
  return `${v.toFixed(decimals)} ${inSeconds ? 's' : 'ms'}`;
}

/** Trusted milliseconds per phase, in display order, scaled to sum to the median trusted time. */
function segments(r: BenchRecord): { phase: string; ms: number }[] {
  if (r.mode === 'ort-fp32') return [{ phase: 'ort', ms: r.trustedMsPerImage }];
  const known = new Set<string>(PHASE_ORDER);
  const parts: { phase: string; ms: number }[] = PHASE_ORDER.filter((p) => (r.phasesMs[p] ?? 0) > 0).map((p) => ({ phase: p, ms: r.phasesMs[p]! }));
  const other = Object.entries(r.phasesMs)
    .filter(([p]) => !known.has(p) && p !== 'accelerator')
    .reduce((s, [, ms]) => s + ms, 0);
  if (other > 0) parts.push({ phase: 'other', ms: other });
  const sum = parts.reduce((s, p) => s + p.ms, 0);
  const k = sum > 0 ? r.trustedMsPerImage / sum : 1;
  return parts.map((p) => ({ phase: p.phase, ms: p.ms * k }));
}

export function renderChart(results: BenchResults): string {
  const byModel = new Map<string, BenchRecord[]>();
  for (const r of results.records) byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
  const presentPhases = new Set<string>();
  for (const r of results.records) for (const s of segments(r)) presentPhases.add(s.phase);
  const legendItems: { label: string; draw: (x: number, y: number) => string }[] = [
    { label: 'onnxruntime fp32, whole network, 1 thread', draw: (x, y) => `<rect x="${x}" y="${y - 10}" width="14" height="12" fill="${ORT_COLOR}"/>` },
    {
      label: 'onnxruntime fp32 time (reference line)',
      draw: (x, y) => `<line x1="${x + 7}" y1="${y - 12}" x2="${x + 7}" y2="${y + 3}" stroke="${ORT_COLOR}" stroke-width="2" stroke-dasharray="4 3"/>`,
    },
    ...[...PHASE_ORDER, 'other']
      .filter((p) => presentPhases.has(p))
      .map((p) => ({ label: PHASE_LABELS[p]!, draw: (x: number, y: number) => `<rect x="${x}" y="${y - 10}" width="14" height="12" fill="${PHASE_COLORS[p]}"/>` })),
  ];

  const out: string[] = [];
  let y = 30;
  out.push(`<text x="${LABEL_X}" y="${y}" font-size="18" font-weight="bold">slalom — trusted-runtime time per image, by phase (median)</text>`);
  y += 20;
  const env = results.environment;
  out.push(`<text x="${LABEL_X}" y="${y}" font-size="12" fill="#555">${esc(`${env.cpus} (${env.cpuCount} cores), Node ${env.node}, ${env.date.slice(0, 10)}; ≥ ${env.warmup} warm-up + ≥ ${env.runs} measured runs per bar.`)}</text>`);
  y += 16;
  out.push(
    `<text x="${LABEL_X}" y="${y}" font-size="12" fill="#555">${esc(
      "Bars: the trusted runtime's work (waiting on the accelerator excluded). Ratio = onnxruntime fp32 time / trusted time; > 1 means slalom's trusted side is faster.",
    )}</text>`,
  );
  y += 26;
  // Legend, wrapped.
  let lx = LABEL_X;
  for (const item of legendItems) {
    const w = 24 + item.label.length * 6.6 + 18;
    if (lx + w > W - 10) {
      lx = LABEL_X;
      y += 20;
    }
    out.push(item.draw(lx, y));
    out.push(`<text x="${lx + 20}" y="${y}" font-size="12">${esc(item.label)}</text>`);
    lx += w;
  }
  y += 24;

  for (const [model, records] of byModel) {
    const ort = records.find((r) => r.mode === 'ort-fp32');
    const ortMs = ort?.trustedMsPerImage ?? records[0]!.ortFp32MsPerImage;
    const summary = results.models.find((m) => m.model === model);
    y += 14;
    const desc = summary
      ? `${fmtCount(summary.macs)} MACs · ${fmtCount(summary.linearInputElements + summary.linearOutputElements)} linear in+out values · memory-bandwidth floor ${fmtMs(summary.floorMs)}`
      : '';
    out.push(`<text x="${LABEL_X}" y="${y}" font-size="15" font-weight="bold">${esc(model)}<tspan dx="12" font-size="12" font-weight="normal" fill="#555">${esc(desc)}</tspan></text>`);
    y += 10;
    const totals = records.map((r) => r.trustedMsPerImage);
    const others = records.filter((r) => r.mode !== 'baseline').map((r) => r.trustedMsPerImage);
    const otherMax = Math.max(ortMs, ...others);
    const allMax = Math.max(...totals);
    const axisTarget = allMax <= 2.5 * otherMax ? allMax : otherMax * 1.15;
    const step = niceStep(axisTarget);
    const axisMax = Math.ceil(axisTarget / step - 1e-9) * step;
    const xOf = (ms: number): number => BAR_X0 + (Math.min(ms, axisMax) / axisMax) * (BAR_X1 - BAR_X0);
    const top = y;
    const bottom = y + records.length * ROW_H;
    // Grid and axis.
    for (let t = 0; t <= axisMax + 1e-9; t += step) {
      const x = xOf(t);
      out.push(`<line x1="${x.toFixed(1)}" y1="${top}" x2="${x.toFixed(1)}" y2="${bottom}" stroke="#e4e4e4"/>`);
      out.push(`<text x="${x.toFixed(1)}" y="${bottom + 14}" font-size="11" fill="#555" text-anchor="middle">${esc(tickLabel(t, step, axisMax))}</text>`);
    }
    out.push(`<line x1="${BAR_X0}" y1="${top}" x2="${BAR_X0}" y2="${bottom}" stroke="#999"/>`);
    for (const [i, r] of records.entries()) {
      const by = top + i * ROW_H + (ROW_H - BAR_H) / 2;
      const label = MODE_LABELS[r.mode] ?? r.mode;
      out.push(`<text x="${BAR_X0 - 8}" y="${by + BAR_H - 3}" font-size="12" text-anchor="end">${esc(label)}</text>`);
      let acc = 0;
      for (const s of segments(r)) {
        const x0 = xOf(acc);
        acc += s.ms;
        const x1 = xOf(acc);
        if (x1 - x0 < 0.05) continue;
        const fill = s.phase === 'ort' ? ORT_COLOR : PHASE_COLORS[s.phase] ?? PHASE_COLORS['other']!;
        out.push(
          `<rect x="${x0.toFixed(2)}" y="${by}" width="${(x1 - x0).toFixed(2)}" height="${BAR_H}" fill="${fill}"><title>${esc(`${model} ${r.mode} ${s.phase === 'ort' ? 'onnxruntime fp32' : s.phase}: ${fmtMs(s.ms)}`)}</title></rect>`,
        );
      }
      const clipped = r.trustedMsPerImage > axisMax;
      if (clipped) {
        // A break mark: two white slashes near the bar's end.
        const bx = BAR_X1 - 18;
        for (const dx of [0, 6]) out.push(`<line x1="${bx + dx}" y1="${by + BAR_H + 2}" x2="${bx + dx + 6}" y2="${by - 2}" stroke="#fff" stroke-width="3"/>`);
      }
      const ratio = r.mode === 'ort-fp32' ? 'reference' : `${fmtRatio(r.ratioVsOrt)} vs ORT`;
      const color = r.mode === 'ort-fp32' ? '#333' : r.ratioVsOrt >= 1 ? '#1a7f37' : '#c62828';
      const textX = (clipped ? BAR_X1 : xOf(r.trustedMsPerImage)) + 6;
      out.push(
        `<text x="${textX.toFixed(1)}" y="${by + BAR_H - 3}" font-size="12"><tspan font-weight="bold">${esc(`${clipped ? '→ ' : ''}${fmtMs(r.trustedMsPerImage)}`)}</tspan><tspan dx="8" fill="${color}">${esc(ratio)}</tspan></text>`,
      );
    }
    // The onnxruntime fp32 reference line, over the bars.
    const ox = xOf(ortMs);
    out.push(`<line x1="${ox.toFixed(1)}" y1="${top - 4}" x2="${ox.toFixed(1)}" y2="${bottom + 2}" stroke="${ORT_COLOR}" stroke-width="1.5" stroke-dasharray="4 3"/>`);
    y = bottom + 30;
  }
  const H = y + 6;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}" fill="#222">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
