/**
 * Merges what bench/gpu/run-device.sh measured into one file, `<out>/device-results.json` (the raw
 * results to commit with the machine description), and a readable `<out>/device-summary.md`: per
 * model and mode the wall clock with the webgpu accelerator against onnxruntime fp32 on one trusted
 * core and against PyTorch fp32 on the GPU (the price of security: slalom's wall clock over the
 * insecure one), and the exact kernels' int32 rate against the device's.
 *
 *   npx tsx bench/gpu/device-results.ts <out>
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmtMs, mdTable } from '../lib/stats.js';
import { GPU_RESULTS_FILE, type GpuResults } from './report.js';

interface TorchResults {
  readonly environment: Record<string, unknown> & { smCount?: number; capability?: string; gpu?: string };
  readonly models: readonly { model: string; precision: string; msPerImageBatch1: number; imagesPerS: number; batch: number }[];
  readonly layers?: readonly { model: string; name: string; fp32Ms: number; gmacPerS: number }[];
}

const readJson = <T>(path: string): T | undefined => (existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : undefined);
const readText = (path: string): string | undefined => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);

/** SMs × 64 int32 lanes × max SM clock: the int32 multiply-add peak of NVIDIA's sm_80/sm_90 SMs (a datasheet figure, not measured). */
function datasheetInt32(torch: TorchResults | undefined, machine: string | undefined): number | undefined {
  const sm = torch?.environment.smCount;
  const mhz = Number(/clocks\.max\.sm[^\n]*\n[^,\n]*,[^,\n]*,\s*(\d+)\s*MHz/.exec(machine ?? '')?.[1]);
  const major = Number(String(torch?.environment.capability ?? '').split('.')[0]);
  return sm !== undefined && Number.isFinite(mhz) && mhz > 0 && major >= 8 ? sm * 64 * mhz * 1e6 : undefined;
}

function summary(webgpu: GpuResults | undefined, torch: TorchResults | undefined, int32Peak: number | undefined, steps: string): string {
  const lines = ['# slalom on a GPU: device run summary', '', '```', steps.trim(), '```', ''];
  if (webgpu === undefined) return [...lines, 'No WebGPU results (see steps and node.log).'].join('\n');
  lines.push(`Adapter: ${webgpu.environment.adapter.name}; trusted CPU: ${webgpu.environment.cpus}.`, '');
  lines.push(`Device ceiling through WebGPU: ${(webgpu.environment.peak.int32MadPerS / 1e12).toFixed(2)} T i32 MAD/s${int32Peak ? `; datasheet int32: ${(int32Peak / 1e12).toFixed(2)} T/s` : ''}.`, '');
  for (const m of webgpu.models) {
    const fp32 = torch?.models.find((t) => t.model === m.model && t.precision === 'fp32');
    const rows = m.modes.map((r) => [r.mode, fmtMs(r.wallMsPerImage), r.throughput.toFixed(1), fmtMs(r.trustedMsPerImage), `${(100 * r.acceleratorShare).toFixed(0)} %`, (m.ortFp32MsPerImage / r.wallMsPerImage).toFixed(2), fp32 ? (r.wallMsPerImage / fp32.msPerImageBatch1).toFixed(1) : '—', r.logitsMatchBaseline ? 'yes' : 'NO']);
    // Two i32 multiply-adds per MAC is the 12-bit-limb scheme's count: its own timing where measured.
    const limbsMs = m.limbsKernelMs ?? m.exactKernelMs;
    const int32Rate = (2 * m.macs) / (limbsMs / 1000);
    const gmac = (ms: number): string => (m.macs / ms / 1e6).toFixed(1);
    lines.push(
      `## ${m.model}`,
      '',
      `onnxruntime fp32, one trusted core: ${fmtMs(m.ortFp32MsPerImage)}; PyTorch fp32 on the GPU: ${fp32 ? fmtMs(fp32.msPerImageBatch1) : 'not measured'} per image (batch 1).`,
      '',
      mdTable(['mode', 'wall / image', 'img/s', 'trusted', 'accelerator share', 'ORT fp32 / wall', 'price (wall / PyTorch)', '= baseline'], rows, [false, true, true, true, true, true, true, false]),
      '',
      `Exact kernels as the modes ran them (${m.kernelPath ?? 'limbs'}): ${m.exactGmacPerS.toFixed(1)} GMAC/s; 12-bit limbs ${gmac(limbsMs)} GMAC/s${m.dot4KernelMs !== undefined ? `, packed 4×8-bit dot products ${gmac(m.dot4KernelMs)} GMAC/s` : ''}. 12-bit limbs: ${(int32Rate / 1e12).toFixed(2)} T i32 MAD/s (${((100 * int32Rate) / webgpu.environment.peak.int32MadPerS).toFixed(0)} % of the measured ceiling${int32Peak ? `, ${((100 * int32Rate) / int32Peak).toFixed(0)} % of the datasheet int32 peak` : ''}); exactness tax against their float32 twin ${m.exactnessTax.toFixed(2)}×` +
        (torch?.layers ? `; against PyTorch fp32 layer by layer ${(m.exactKernelMs / torch.layers.filter((l) => l.model === m.model).reduce((s, l) => s + l.fp32Ms, 0)).toFixed(2)}×` : '') +
        '.',
      '',
    );
  }
  return lines.join('\n');
}

const out = process.argv[2];
if (out === undefined) {
  process.stderr.write('usage: npx tsx bench/gpu/device-results.ts <out>\n');
  process.exit(2);
}
const webgpu = readJson<GpuResults>(join(out, GPU_RESULTS_FILE));
const torch = readJson<TorchResults>(join(out, 'torch-fp32.json'));
const machine = readText(join(out, 'machine.txt'));
const steps = readText(join(out, 'steps.txt')) ?? '';
const int32Peak = datasheetInt32(torch, machine);
writeFileSync(
  join(out, 'device-results.json'),
  `${JSON.stringify({ steps: steps.trim().split('\n').filter(Boolean).map((l) => l.split('\t')), machine, datasheetInt32MadPerS: int32Peak ?? null, webgpu: webgpu ?? null, torch: torch ?? null }, null, 2)}\n`,
);
writeFileSync(join(out, 'device-summary.md'), `${summary(webgpu, torch, int32Peak, steps)}\n`);
