/**
 * Transformer encoders side by side with onnxruntime fp32 on one thread (the reference a TEE would
 * otherwise run): the zoo's vit-tiny and bert-base (src/zoo/transformer.ts) in `outsourced`,
 * `verified` and `private+verified` with the memory pad pool, with the embedded accelerator.
 * Reports per model the MACs per linear value (what each value crossing the boundary buys), the
 * bandwidth floor of the trusted side's linear traffic at 4 bytes per value, each mode's trusted
 * milliseconds and ratio to onnxruntime, and where the trusted time goes: the linear boundary
 * (quantize, requantize, check, pads) and, within the non-linear part, attention (QKᵀ, softmax·V,
 * softmax), LayerNorm, GELU and the rest (reshapes, transposes, bias and residual Adds).
 *
 *   npx tsx bench/transformers.ts [--models vit-tiny,bert-base] [--runs n] [--warmup n] [--json file]
 */
import { writeFileSync } from 'node:fs';
import { execute } from '../src/graph/execute.js';
import { inspect } from '../src/api/inspect.js';
import { createReferenceSession } from '../src/reference/ort-session.js';
import { SlalomModel } from '../src/runtime/model.js';
import { PadPool } from '../src/runtime/pad-pool.js';
import { openProtocol } from '../src/runtime/session.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';
import { Rng } from '../src/util/seeded-rng.js';
import { buildZooModel, ZOO_TRANSFORMERS } from '../src/zoo/index.js';
import { cpuFeatures } from './lib/cpu.js';
import { measureBandwidth } from './lib/membw.js';
import { median, textTable } from './lib/stats.js';

const MODES = ['ort-fp32', 'outsourced', 'verified', 'private+verified:memory'] as const;
type Mode = (typeof MODES)[number];

function args(): { models: string[]; runs: number; warmup: number; json?: string } {
  const a = process.argv.slice(2);
  const get = (flag: string): string | undefined => {
    const i = a.indexOf(flag);
    return i < 0 ? undefined : a[i + 1];
  };
  const models = (get('--models') ?? ZOO_TRANSFORMERS.join(',')).split(',');
  for (const m of models) if (!(ZOO_TRANSFORMERS as readonly string[]).includes(m)) throw new Error(`unknown model '${m}' (one of ${ZOO_TRANSFORMERS.join(', ')})`);
  return { models, runs: Number(get('--runs') ?? 3), warmup: Number(get('--warmup') ?? 1), json: get('--json') };
}

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

function normalInput(dims: readonly number[]): Tensor {
  const rng = new Rng(0xbe7c);
  const n = dims.reduce((a, b) => a * b, 1);
  return tensor(dims, Float64Array.from({ length: n }, () => rng.normal()));
}

/** The non-linear op groups the report names, by node op and the zoo's node names. */
function groupOf(op: string, name: string): string {
  if (op === 'ActivationMatMul' || op === 'Softmax') return 'attention';
  if (op === 'LayerNormalization' || /layernorm|LayerNorm|\bnorm\//.test(name)) return 'layernorm';
  if (/gelu/.test(name)) return 'gelu';
  return 'other';
}

/** Milliseconds per non-linear group on one float run of the graph (the same float code every mode runs; linear layers skipped). */
async function nonlinearBreakdown(model: SlalomModel, x: Tensor): Promise<Record<string, number>> {
  const out: Record<string, number> = { attention: 0, layernorm: 0, gelu: 0, other: 0 };
  const g = model.graph;
  await execute(g, [x], {
    linear: (node) => tensor(g.dims.get(node.outputs[0]!)!, new Float64Array(g.dims.get(node.outputs[0]!)!.reduce((a, b) => a * b, 1))),
    onNonlinearMs: (ms, node) => void (out[groupOf(node.op, node.name)]! += ms),
  });
  return out;
}

interface ModeResult {
  readonly mode: Mode;
  readonly trustedMs: number;
  readonly wallMs: number;
  readonly phases: Record<string, number>;
  readonly logitsMatchOutsourced?: boolean;
}

async function measure(model: SlalomModel, mode: Mode, x: Tensor, runs: number, warmup: number): Promise<ModeResult & { logits: Float64Array }> {
  const samples: { trustedMs: number; wallMs: number; timings: Record<string, number>; logits: Float64Array }[] = [];
  if (mode === 'ort-fp32') {
    const session = await createReferenceSession(model.onnxBytes, { threads: 1 });
    try {
      for (let i = 0; i < warmup + runs; i++) {
        const t0 = performance.now();
        const out = await session.run([x]);
        const ms = performance.now() - t0;
        if (i >= warmup) samples.push({ trustedMs: ms, wallMs: ms, timings: { onnxruntime: ms }, logits: [...out.values()][0]!.data });
      }
    } finally {
      await session.close();
    }
  } else {
    const slalomMode = mode === 'private+verified:memory' ? 'private+verified' : mode;
    const pool = mode === 'private+verified:memory' ? PadPool.open(model.quantized, { capacity: 1, kernels: 'ort' }) : undefined;
    const protocol = await openProtocol(model, slalomMode, { kernels: 'ort', ...(pool !== undefined ? { pads: { source: 'shared' as const, from: pool } } : {}) });
    try {
      for (let i = 0; i < warmup + runs; i++) {
        await pool?.filled(); // the pool fills in idle time, outside the timing
        const t0 = performance.now();
        const r = await model.infer(x, { mode: slalomMode, protocol });
        const wallMs = performance.now() - t0;
        if (i >= warmup) samples.push({ trustedMs: r.trustedMs, wallMs, timings: { ...r.timings }, logits: r.logits });
      }
    } finally {
      await protocol.close?.();
      await pool?.close();
    }
  }
  const phases: Record<string, number> = {};
  for (const p of new Set(samples.flatMap((s) => Object.keys(s.timings)))) phases[p] = median(samples.map((s) => s.timings[p] ?? 0));
  return { mode, trustedMs: median(samples.map((s) => s.trustedMs)), wallMs: median(samples.map((s) => s.wallMs)), phases, logits: samples[0]!.logits };
}

const { models, runs, warmup, json } = args();
const cpu = cpuFeatures();
log(`bench/transformers: ${models.join(', ')}; ${warmup} warm-up + ${runs} runs; CPU ${cpu.model} (${cpu.simd.join(' ')})`);
const bandwidth = measureBandwidth();
const report: unknown[] = [];
for (const name of models) {
  log(`[${name}] building and loading (import, calibration on synthetic inputs, quantization)…`);
  const model = await SlalomModel.load(buildZooModel(name as (typeof ZOO_TRANSFORMERS)[number], { seed: 1 }));
  const info = inspect(model);
  const values = info.linearInputElements + info.linearOutputElements;
  const floorMs = ((4 * values) / bandwidth.bestBytesPerS) * 1000;
  const x = normalInput(model.inputDims);
  const results: (ModeResult & { logits: Float64Array })[] = [];
  for (const mode of MODES) {
    log(`[${name}] ${mode}…`);
    results.push(await measure(model, mode, x, runs, warmup));
  }
  const breakdown = await nonlinearBreakdown(model, x);
  const ort = results[0]!;
  const reference = results[1]!.logits;
  const gmacs = info.macs / (ort.trustedMs / 1000) / 1e9;
  const rows = results.map((r) => {
    const nonlinear = r.phases['nonlinear'] ?? 0;
    const accelerator = r.phases['accelerator'] ?? 0;
    const boundary = r.mode === 'ort-fp32' ? 0 : r.trustedMs - nonlinear;
    return [
      r.mode,
      r.trustedMs.toFixed(1),
      (ort.trustedMs / r.trustedMs).toFixed(2) + '×',
      r.mode === 'ort-fp32' ? '' : boundary.toFixed(1),
      r.mode === 'ort-fp32' ? '' : nonlinear.toFixed(1),
      r.mode === 'ort-fp32' ? '' : accelerator.toFixed(1),
      r.mode === 'ort-fp32' ? '' : String(r.logits.every((v, i) => v === reference[i])),
    ];
  });
  const total = Object.values(breakdown).reduce((a, b) => a + b, 0);
  const lines = [
    `${name}: input ${model.inputDims.join('×')}, ${info.linearLayers} linear layers, ${(info.macs / 1e9).toFixed(2)} GMAC, ` +
      `${(values / 1e6).toFixed(2)} M linear values (in + out): ${(info.macs / values).toFixed(0)} MACs per linear value; ` +
      `4-byte floor ${floorMs.toFixed(1)} ms at ${(bandwidth.bestBytesPerS / 1e9).toFixed(1)} GB/s; onnxruntime fp32 ${gmacs.toFixed(1)} GMAC/s`,
    textTable(['mode', 'trusted ms', 'vs ORT', 'boundary ms', 'non-linear ms', 'accelerator ms', 'same logits'], rows, [false, true, true, true, true, true, false]),
    `non-linear (one float run): ${Object.entries(breakdown)
      .map(([k, v]) => `${k} ${v.toFixed(1)} ms (${((100 * v) / total).toFixed(0)} %)`)
      .join(', ')}`,
    `trusted phases, verified: ${Object.entries(results[2]!.phases)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ')}`,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  report.push({ model: name, inputDims: model.inputDims, macs: info.macs, linearValues: values, macsPerLinearValue: info.macs / values, floor4Ms: floorMs, ortGmacs: gmacs, nonlinearMs: breakdown, modes: results.map(({ logits: _logits, ...r }) => r) });
}
if (json !== undefined) writeFileSync(json, `${JSON.stringify({ cpu, bandwidth, runs, warmup, report }, null, 2)}\n`);
