/** REPORT.md and the stdout table, generated from the measured numbers only. */
import { fmtBytes, fmtCount, fmtMs, fmtRatio, mdTable, textTable } from './stats.js';
import { ciphersSection, floor4Ms, inFlightSection, ortGmacs, padsSection, startingSection, TAX_TARGET, targetsSection } from './targets.js';
import { OUTSOURCING_MODES, PHASE_ORDER, SERVICE_MODES, type BenchRecord, type BenchResults, type ModelSummary } from './types.js';

function groupByModel(records: readonly BenchRecord[]): Map<string, BenchRecord[]> {
  const m = new Map<string, BenchRecord[]>();
  for (const r of records) m.set(r.model, [...(m.get(r.model) ?? []), r]);
  return m;
}

const RIGHT = [false, false, true, true, true, true, true, true, true, true];

/** The final table on stdout: one row per model × mode. */
export function stdoutTable(results: BenchResults): string {
  const header = ['model', 'mode', 'trusted', '×ORT', '×baseline', 'wall', 'img/s', 'accelerator', 'bytes/img', 'peak RSS'];
  const rows = results.records.map((r) => [
    r.model,
    r.mode,
    fmtMs(r.trustedMsPerImage),
    r.mode === 'ort-fp32' ? '1.00×' : fmtRatio(r.ratioVsOrt),
    fmtRatio(r.ratioVsBaseline),
    fmtMs(r.wallMsPerImage),
    imgPerS(r.throughput),
    r.acceleratorMsPerImage > 0 ? fmtMs(r.acceleratorMsPerImage) : '—',
    r.bytesPerImage > 0 ? fmtBytes(r.bytesPerImage) : '—',
    fmtBytes(r.peakRssBytes),
  ]);
  const floors = results.models.map((m) => {
    const best = bestOutsourcing(results.records.filter((r) => r.model === m.model));
    return `  ${m.model}: floor ${fmtMs(m.floorMs)} at 8 B, ${fmtMs(floor4Ms(m))} at 4 B (${fmtCount(m.linearInputElements + m.linearOutputElements)} linear in+out values at ${(results.environment.bandwidth.bestBytesPerS / 1e9).toFixed(1)} GB/s)` +
      (best ? `; fastest outsourcing mode ${best.mode} ${fmtMs(best.trustedMsPerImage)} = ${best.vsFloor.toFixed(1)}× the 8-byte floor, ${(best.trustedMsPerImage / floor4Ms(m)).toFixed(1)}× the 4-byte one` : '');
  });
  const service = results.records
    .filter((r) => r.service !== undefined || r.serviceNotRun !== undefined)
    .map((r) => `  ${r.model} ${r.mode}: ${serviceText(r)}`);
  return (
    `${textTable(header, rows, RIGHT)}\n\nphysical floor of the trusted side (read every linear input and output once):\n${floors.join('\n')}\n` +
    (service.length > 0 ? `\nloopback service (slalom accelerator serve over HTTP) vs embedded worker, wall per image:\n${service.join('\n')}\n` : '')
  );
}

const imgPerS = (x: number): string => x.toFixed(x >= 10 ? 1 : 2);
/** Results from before the service was measured have neither field. */
const serviceMissing = (r: BenchRecord): string => (r.serviceNotRun !== undefined ? `not run (${r.serviceNotRun})` : 'not measured');

function serviceText(r: BenchRecord): string {
  const sv = r.service;
  if (sv === undefined) return serviceMissing(r);
  return (
    `${fmtMs(sv.wallMsPerImage)} (${imgPerS(sv.throughput)} img/s) vs ${fmtMs(r.wallMsPerImage)} (${imgPerS(r.throughput)} img/s)` +
    (sv.logitsMatchBaseline ? '' : '; LOGITS DIFFER FROM BASELINE')
  );
}

function bestOutsourcing(records: readonly BenchRecord[]): BenchRecord | undefined {
  return records.filter((r) => OUTSOURCING_MODES.has(r.mode)).sort((a, b) => a.trustedMsPerImage - b.trustedMsPerImage)[0];
}

function phaseColumns(records: readonly BenchRecord[]): string[] {
  const present = new Set(records.flatMap((r) => Object.keys(r.phasesMs)));
  const known = PHASE_ORDER.filter((p) => present.has(p));
  const extra = [...present].filter((p) => !(PHASE_ORDER as readonly string[]).includes(p) && p !== 'accelerator' && p !== 'onnxruntime').sort();
  return [...known, ...extra];
}

function modelSection(summary: ModelSummary, records: readonly BenchRecord[], results: BenchResults): string {
  const lines: string[] = [];
  const ort = records.find((r) => r.mode === 'ort-fp32');
  lines.push(`## ${summary.model}`);
  lines.push('');
  lines.push(
    `Input ${summary.inputDims.join('×')}, ${summary.linearLayers} linear layers, ${fmtCount(summary.macs)}MACs, ` +
      `${fmtCount(summary.linearInputElements)} linear-input + ${fmtCount(summary.linearOutputElements)} linear-output values ` +
      `(${(summary.macs / (summary.linearInputElements + summary.linearOutputElements)).toFixed(0)} MACs per value). ` +
      `Load (import + calibration + quantization): ${fmtMs(summary.loadMs)}.` +
      (ort ? ` onnxruntime fp32 sustains ${(summary.macs / ort.trustedMsPerImage / 1e6).toFixed(1)} GMAC/s on one thread.` : ''),
  );
  lines.push('');
  const header = ['mode', 'trusted ms', 'best', '×ORT', '×baseline', 'wall ms', 'img/s', 'accelerator ms', 'bytes/img (u32)', 'packed (3 B)', 'peak RSS', 'setup', 'logits = baseline', 'top-1 = ORT'];
  const right = [false, true, true, true, true, true, true, true, true, true, true, true, false, false];
  lines.push(
    mdTable(
      header,
      records.map((r) => [
        `\`${r.mode}\``,
        fmtMs(r.trustedMsPerImage),
        fmtMs(r.trustedMsBest),
        r.mode === 'ort-fp32' ? '1.00×' : fmtRatio(r.ratioVsOrt),
        fmtRatio(r.ratioVsBaseline),
        fmtMs(r.wallMsPerImage),
        imgPerS(r.throughput),
        r.acceleratorMsPerImage > 0 ? fmtMs(r.acceleratorMsPerImage) : '—',
        r.bytesPerImage > 0 ? fmtBytes(r.bytesPerImage) : '—',
        r.packedBytesPerImage > 0 ? fmtBytes(r.packedBytesPerImage) : '—',
        fmtBytes(r.peakRssBytes),
        fmtMs(r.setupMs),
        yesNo(r.logitsMatchBaseline),
        r.top1MatchesOrt ? 'yes' : 'no',
      ]),
      right,
    ),
  );
  lines.push('');
  const priv = records.find((r) => r.precomputeMsPerImage !== undefined);
  if (priv && summary.precompute) {
    lines.push(
      `Offline phase (private modes): ${fmtMs(summary.precompute.msPerImage)} per image (${summary.precompute.pads} pads in ${fmtMs(summary.precompute.ms)}), ` +
        `${fmtBytes(summary.precompute.padBytesPerImage)} of sealed pad per image in the untrusted store.`,
    );
    lines.push('');
  }
  const verified = records.find((r) => r.soundnessLog2PerInference !== undefined);
  if (verified) {
    lines.push(`Verified modes: a wrong result goes undetected with probability ≤ 2^${verified.soundnessLog2PerInference!.toFixed(1)} per inference.`);
    lines.push('');
  }
  lines.push(taxLine(summary));
  lines.push('');
  const quantized = records.filter((r) => r.mode !== 'ort-fp32');
  const cols = phaseColumns(quantized);
  if (quantized.length > 0) {
    lines.push(`Phase breakdown (median ms per image; \`accelerator\` is waiting, not trusted work):`);
    lines.push('');
    lines.push(
      mdTable(
        ['mode', ...cols, 'accelerator', 'trusted'],
        quantized.map((r) => [`\`${r.mode}\``, ...cols.map((c) => (r.phasesMs[c] === undefined ? '—' : fmtMs(r.phasesMs[c]!))), r.acceleratorMsPerImage > 0 ? fmtMs(r.acceleratorMsPerImage) : '—', fmtMs(r.trustedMsPerImage)]),
        [false, ...cols.map(() => true), true, true],
      ),
    );
    lines.push('');
  }
  const bw = results.environment.bandwidth.bestBytesPerS;
  const best = bestOutsourcing(records);
  lines.push(
    `Physical floor: 8 B × ${fmtCount(summary.linearInputElements + summary.linearOutputElements)} values = ${fmtBytes(summary.floorTrafficBytes)} ` +
      `at ${(bw / 1e9).toFixed(1)} GB/s → **${fmtMs(summary.floorMs)}**` +
      (best ? `; the fastest outsourcing mode (${best.mode}, ${fmtMs(best.trustedMsPerImage)}) is ${best.vsFloor.toFixed(1)}× the floor` : '') +
      (ort ? `; an O(activations) trusted runtime at the floor would be ${fmtRatio(ort.trustedMsPerImage / summary.floorMs)} faster than onnxruntime fp32.` : '.'),
  );
  lines.push('');
  return lines.join('\n');
}

/** "Where slalom loses and why": observations computed from the records. */
function lossesSection(results: BenchResults): string {
  const lines: string[] = ['## Where slalom loses and why', ''];
  const byModel = groupByModel(results.records);
  const bullets: string[] = [];
  for (const summary of results.models) {
    const records = byModel.get(summary.model) ?? [];
    const ort = records.find((r) => r.mode === 'ort-fp32');
    if (!ort) continue;
    const elems = summary.linearInputElements + summary.linearOutputElements;
    const intensity = summary.macs / elems;
    const ortGmacs = summary.macs / ort.trustedMsPerImage / 1e6; // MACs per ns
    const secure = records.filter((r) => OUTSOURCING_MODES.has(r.mode));
    const losing = secure.filter((r) => r.ratioVsOrt < 1);
    const worst = [...secure].sort((a, b) => a.ratioVsOrt - b.ratioVsOrt)[0];
    if (worst === undefined) continue;
    const best = [...secure].sort((a, b) => b.ratioVsOrt - a.ratioVsOrt)[0]!;
    const nsPerElem = (worst.trustedMsPerImage * 1e6) / elems;
    const floorNsPerElem = (summary.floorMs * 1e6) / elems;
    const breakEven = nsPerElem * ortGmacs;
    const top = topPhases(worst);
    const head = losing.length > 0
      ? `**${summary.model}** loses to onnxruntime fp32 in ${losing.length === secure.length ? 'every outsourcing mode' : `${losing.length} of ${secure.length} outsourcing modes`}: ` +
        `${losing.map((r) => `\`${r.mode}\` ${fmtRatio(r.ratioVsOrt)}`).join(', ')}.`
      : `**${summary.model}** beats onnxruntime fp32 in every outsourcing mode (best \`${best.mode}\` ${fmtRatio(best.ratioVsOrt)}, slowest \`${worst.mode}\` ${fmtRatio(worst.ratioVsOrt)}).`;
    const verdict =
      intensity < breakEven
        ? ` ${summary.model} does only ${intensity.toFixed(0)}, so its trusted O(activations) work costs ${fmtRatio(breakEven / intensity)} what onnxruntime needs for the whole network's MACs.`
        : ` ${summary.model} does ${intensity.toFixed(0)}, ${fmtRatio(intensity / breakEven)} above it.`;
    bullets.push(
      `- ${head} It does ${intensity.toFixed(0)} MACs per linear input/output value, and onnxruntime runs it at ${ortGmacs.toFixed(1)} GMAC/s on one thread. ` +
        `In \`${worst.mode}\` the trusted side spends ${nsPerElem.toFixed(1)} ns per value (${top}), so that mode can only win on models doing more than ~${breakEven.toFixed(0)} MACs per value;` +
        verdict +
        ` The memory-bandwidth floor is ${floorNsPerElem.toFixed(2)} ns per value (${fmtMs(summary.floorMs)} per image, at most ${fmtRatio(ort.trustedMsPerImage / summary.floorMs)} faster than onnxruntime); ` +
        `\`${worst.mode}\` runs at ${worst.vsFloor.toFixed(0)}× the floor, so ` +
        ((worst.phasesMs['pad'] ?? 0) > 0.5 * worst.trustedMsPerImage
          ? `the cost is the per-inference durable pad-ledger write (\`pad\`: an fsync, I/O latency), not per-value work.`
          : `the cost is per-value arithmetic in the phases named, not memory traffic.`),
    );
  }
  if (results.models.length > 1) {
    const ranked = results.models
      .map((m) => {
        const secure = (byModel.get(m.model) ?? []).filter((r) => OUTSOURCING_MODES.has(r.mode) && r.mode !== 'outsourced');
        const best = [...secure].sort((a, b) => b.ratioVsOrt - a.ratioVsOrt)[0];
        return { m, intensity: m.macs / (m.linearInputElements + m.linearOutputElements), best };
      })
      .filter((x) => x.best !== undefined)
      .sort((a, b) => b.intensity - a.intensity);
    if (ranked.length > 1) {
      bullets.push(
        `- Ordered by MACs per linear value, the best secure mode's ratio vs onnxruntime: ` +
          ranked.map((x) => `${x.m.model} ${x.intensity.toFixed(0)} → \`${x.best!.mode}\` ${fmtRatio(x.best!.ratioVsOrt)}`).join('; ') +
          `. ${ranked.every((x, i) => i === 0 || x.best!.ratioVsOrt <= ranked[i - 1]!.best!.ratioVsOrt) ? 'As expected, the' : 'In principle the'} advantage grows with MACs per value ` +
          `(the accelerator takes over the MACs; the trusted runtime still touches every value)` +
          `${ranked.every((x, i) => i === 0 || x.best!.ratioVsOrt <= ranked[i - 1]!.best!.ratioVsOrt) ? '' : ', but here the order is not monotone: per-layer overheads, layer shapes and noise matter too'}; ` +
          `low-MAC models (depthwise-separable MobileNets, small classifiers) give it the least to gain.`,
      );
    }
  }
  lines.push(...bullets);
  // Cross-model observations.
  const secure = results.records.filter((r) => OUTSOURCING_MODES.has(r.mode));
  const outs = results.records.filter((r) => r.mode === 'outsourced');
  if (outs.length > 0) {
    const share = outs.map((r) => {
      const fixed = (r.phasesMs['quantize'] ?? 0) + (r.phasesMs['requantize'] ?? 0) + (r.phasesMs['nonlinear'] ?? 0);
      return `${r.model} ${fmtMs(fixed)} of ${fmtMs(r.trustedMsPerImage)}`;
    });
    lines.push(
      `- The part every mode pays: quantize + requantize + non-linear layers (with \`validate\`, all of \`outsourced\`'s trusted time) — ${share.join(', ')}. ` +
        `Verification, blinding and unsealing come on top of it; none of them can make the trusted side faster than \`outsourced\`.`,
    );
  }
  const wallLosers = secure.filter((r) => r.wallMsPerImage > r.ortFp32MsPerImage);
  if (wallLosers.length > 0) {
    const ex = wallLosers.slice(0, 6).map((r) => `${r.model} \`${r.mode}\` ${fmtMs(r.wallMsPerImage)} vs ${fmtMs(r.ortFp32MsPerImage)}`);
    lines.push(
      `- End to end (wall clock), ${wallLosers.length} of ${secure.length} outsourcing runs are slower than onnxruntime fp32 (${ex.join('; ')}${wallLosers.length > 6 ? '; …' : ''}). ` +
        `The "accelerator" here is a worker thread on the same CPU running exact float64 kernels — no GPU — so wall time and throughput measure this harness, not a GPU deployment; ` +
        `the trusted-time ratios are the meaningful ones.`,
    );
  }
  const priv = results.records.filter((r) => r.precomputeMsPerImage !== undefined);
  if (priv.length > 0) {
    const ex = priv
      .filter((r) => r.mode === 'private+verified' || !priv.some((p) => p.model === r.model && p.mode === 'private+verified'))
      .map((r) => `${r.model} ${fmtMs(r.precomputeMsPerImage!)} offline + ${fmtMs(r.trustedMsPerImage)} online = ${fmtRatio(r.ortFp32MsPerImage / (r.precomputeMsPerImage! + r.trustedMsPerImage))} vs ORT`);
    lines.push(
      `- Privacy is paid for offline: each pad costs a full exact evaluation of every linear layer in the trusted runtime (about a baseline inference) plus its sealed bytes in the store. ` +
        `Counting it, a \`private+verified\` image costs: ${ex.join('; ')}. Slalom's private modes only win when precomputation happens in idle time.`,
    );
  }
  lines.push('');
  return lines.join('\n');
}

/** End to end with the embedded worker and with the loopback service, for the modes measured both ways. */
function serviceSection(results: BenchResults): string {
  const records = results.models.flatMap((m) => results.records.filter((r) => r.model === m.model && SERVICE_MODES.has(r.mode)));
  const lines = ['## End to end: embedded accelerator vs loopback service', ''];
  if (records.length === 0) {
    lines.push(`Not run: neither ${[...SERVICE_MODES].map((m) => `\`${m}\``).join(' nor ')} was measured.`, '');
    return lines.join('\n');
  }
  lines.push(
    `The same mode, one image at a time, with the default embedded accelerator (a worker thread in the harness process) and with the accelerator as a service: ` +
      `one \`slalom accelerator serve\` child process on 127.0.0.1 (onnxruntime backend, one thread, \`--max-batch 1\`: a lone sequential client has nothing to batch with, ` +
      `so the batching window would only add waiting per layer), reached through \`HttpBackend\`. Both compute the exact linear layers on one thread of the same cores ` +
      `(the worker with slalom's exact \`ort\` kernels, the service with onnxruntime on the exported exact ONNX graphs); the rest of the difference is transport: ` +
      `the worker gets each layer's residues by \`postMessage\` (a copy within the process), the service over HTTP on loopback ` +
      `(a JSON header plus the binary UINT32 tensor written to a socket, read, framed and range-checked by the server, and the reply the same way back). ` +
      `It lands in accelerator and wall time; only the synchronous part of sending a request counts as trusted (\`transfer\`). ` +
      `Service setup is the protocol's opening, the weights' upload to the service included.`,
  );
  lines.push('');
  const cell = (r: BenchRecord, f: (sv: NonNullable<BenchRecord['service']>) => string): string => (r.service ? f(r.service) : '—');
  lines.push(
    mdTable(
      ['model', 'mode', 'embedded wall ms', 'img/s', 'service wall ms', 'img/s', 'embedded trusted ms', 'service trusted ms', 'embedded accelerator ms', 'service accelerator ms', 'service setup', 'logits = baseline (embedded / service)'],
      records.map((r) => [
        r.model,
        `\`${r.mode}\``,
        fmtMs(r.wallMsPerImage),
        imgPerS(r.throughput),
        r.service ? fmtMs(r.service.wallMsPerImage) : serviceMissing(r),
        cell(r, (sv) => imgPerS(sv.throughput)),
        fmtMs(r.trustedMsPerImage),
        cell(r, (sv) => fmtMs(sv.trustedMsPerImage)),
        fmtMs(r.acceleratorMsPerImage),
        cell(r, (sv) => fmtMs(sv.acceleratorMsPerImage)),
        cell(r, (sv) => fmtMs(sv.setupMs)),
        `${yesNo(r.logitsMatchBaseline)} / ${cell(r, (sv) => yesNo(sv.logitsMatchBaseline))}`,
      ]),
      [false, false, true, true, true, true, true, true, true, true, true, false],
    ),
  );
  lines.push('');
  return lines.join('\n');
}

const yesNo = (b: boolean | undefined): string => (b === undefined ? '—' : b ? 'yes' : '**NO**');

function taxLine(s: ModelSummary): string {
  if (s.exactnessTax === undefined) return 'Accelerator exactness tax: not measured.';
  return (
    `Accelerator exactness tax: exact kernels ${fmtMs(s.exactLinearMs!)} vs onnxruntime fp32 ${fmtMs(s.fp32LinearMs!)} for the same ${s.exactnessLayers!.length} linear layers ` +
    `= **${s.exactnessTax.toFixed(2)}×** (target ≤ ${TAX_TARGET}): ${(s.macs / s.exactLinearMs! / 1e6).toFixed(1)} against ${(s.macs / s.fp32LinearMs! / 1e6).toFixed(1)} GMAC/s ` +
    `on one thread, each layer run alone (per-layer times in results-meta.json).`
  );
}

function topPhases(r: BenchRecord): string {
  const total = Object.entries(r.phasesMs).filter(([p]) => p !== 'accelerator').reduce((s, [, ms]) => s + ms, 0);
  const sorted = Object.entries(r.phasesMs)
    .filter(([p]) => p !== 'accelerator')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3);
  return sorted.map(([p, ms]) => `${p} ${((ms / total) * 100).toFixed(0)} %`).join(', ');
}

export function renderReport(results: BenchResults): string {
  const env = results.environment;
  const bw = env.bandwidth;
  const out: string[] = [];
  out.push('# slalom benchmark report');
  out.push('');
  out.push(
    `Generated ${env.date} by \`${env.argv.join(' ')}\` on ${env.cpus} (${env.cpuCount} cores, ${fmtBytes(env.totalMemBytes)} RAM), Node ${env.node}, ${env.platform}. ` +
      `At least ${env.warmup} warm-up + ${env.runs} measured runs per model × mode, more for fast models (medians; counts in results.json). Load average at start ${env.loadAvgAtStart.map((x) => x.toFixed(2)).join(' ')}` +
      (env.loadAvgAtEnd ? `, at end ${env.loadAvgAtEnd.map((x) => x.toFixed(2)).join(' ')}` : '') +
      ` — other work on the machine makes single numbers noisy.` +
      ` SIMD and crypto features: ${env.simd !== undefined && env.simd.length > 0 ? env.simd.join(' ') : 'not recorded'}. onnxruntime fp32 on one thread: ${ortGmacs(results) || '—'} GMAC/s.` +
      (env.boundary !== undefined ? ` Boundary pass: ${env.boundary}.` : '') +
      (env.wallSeconds !== undefined ? ` The whole run took ${fmtMs(env.wallSeconds * 1000)}.` : ''),
  );
  out.push('');
  out.push(
    `**Trusted ms** is the trusted runtime's own work per image (every phase but waiting on the accelerator; for \`ort-fp32\` and \`baseline\` the whole inference). ` +
      `**×ORT** = onnxruntime fp32 ms / trusted ms (> 1: slalom's trusted side is faster than running the whole network in fp32 on one core). ` +
      `**×baseline** = baseline ms / trusted ms (the paper's methodology). **Wall** and **img/s** are end to end with the embedded CPU-worker accelerator. ` +
      `**bytes/img** is what crosses the trust boundary as the embedded worker sends it (4 B per residue, u32, inputs + outputs of every linear layer); **packed** is the same at 3 B per residue. See bench/README.md.`,
  );
  out.push('');
  out.push(
    `Memory bandwidth (one thread, 256 MiB Float64Array, best of ${bw.reps}): copy ${(bw.copyBytesPerS / 1e9).toFixed(1)} GB/s (read + write), ` +
      `read ${(bw.readBytesPerS / 1e9).toFixed(1)} GB/s; the floor uses the larger, ${(bw.bestBytesPerS / 1e9).toFixed(1)} GB/s.`,
  );
  out.push('');
  out.push('![trusted time by phase](chart.svg)');
  out.push('');
  // Summary matrix.
  const modes = [...new Set(results.records.map((r) => r.mode))];
  out.push('## Summary: trusted-side speed-up over onnxruntime fp32 (×ORT)');
  out.push('');
  out.push(
    mdTable(
      ['model', 'ORT fp32 ms', ...modes.filter((m) => m !== 'ort-fp32').map((m) => `\`${m}\``), 'floor ms'],
      results.models.map((s) => {
        const rs = results.records.filter((r) => r.model === s.model);
        return [
          s.model,
          fmtMs(rs[0]?.ortFp32MsPerImage ?? NaN),
          ...modes.filter((m) => m !== 'ort-fp32').map((m) => {
            const r = rs.find((x) => x.mode === m);
            return r ? fmtRatio(r.ratioVsOrt) : '—';
          }),
          fmtMs(s.floorMs),
        ];
      }),
      [false, true, ...modes.map(() => true)],
    ),
  );
  out.push('');
  out.push(targetsSection(results));
  out.push(startingSection(results));
  out.push(padsSection(results));
  out.push(inFlightSection(results));
  out.push(ciphersSection(results));
  out.push(serviceSection(results));
  out.push('## Physical floor');
  out.push('');
  out.push(
    `Assumption: whatever the mode, the trusted runtime must at least read every linear layer's input (to quantize and send or blind it) and its output ` +
      `(to unblind, verify and requantize it) once, as 8-byte values (the 4-byte floor: as 32-bit residues, half of it), at the best single-thread streaming bandwidth measured above; ` +
      `weights, non-linear work, keystream, MACs and cache reuse are ignored, so real code cannot beat this.`,
  );
  out.push('');
  out.push(
    mdTable(
      ['model', 'linear in', 'linear out', 'traffic (8 B)', 'floor 8 B', 'floor 4 B', 'fastest outsourcing mode', 'its trusted ms', '× floor 8 B', '× floor 4 B', 'ORT fp32 / floor 4 B'],
      results.models.map((s) => {
        const rs = results.records.filter((r) => r.model === s.model);
        const best = bestOutsourcing(rs);
        const ort = rs.find((r) => r.mode === 'ort-fp32');
        return [
          s.model,
          fmtCount(s.linearInputElements),
          fmtCount(s.linearOutputElements),
          fmtBytes(s.floorTrafficBytes),
          fmtMs(s.floorMs),
          fmtMs(floor4Ms(s)),
          best ? `\`${best.mode}\`` : '—',
          best ? fmtMs(best.trustedMsPerImage) : '—',
          best ? `${best.vsFloor.toFixed(1)}×` : '—',
          best ? `${(best.trustedMsPerImage / floor4Ms(s)).toFixed(1)}×` : '—',
          ort ? fmtRatio(ort.trustedMsPerImage / floor4Ms(s)) : '—',
        ];
      }),
      [false, true, true, true, true, true, false, true, true, true, true],
    ),
  );
  out.push('');
  out.push(lossesSection(results));
  const byModel = groupByModel(results.records);
  for (const s of results.models) out.push(modelSection(s, byModel.get(s.model) ?? [], results));
  return out.join('\n');
}
