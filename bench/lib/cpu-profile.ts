/**
 * The JS thread's CPU by what it was doing, from V8's sampling profiler (node:inspector), for the
 * generation bench's `--profile`: the phase timings time the trusted runtime's named passes, and
 * this says where the rest of its CPU goes (the boundary's bookkeeping around the fused pass, the
 * messages to and from the accelerator's thread, garbage collection). Samples are attributed to the
 * innermost frame of a category below; wall-clock sampling also counts time the thread lost to
 * other threads inside the frame it was in.
 */
import { Session } from 'node:inspector/promises';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Categories, first match from the sampled frame outwards. */
const CATEGORIES: readonly [string, (f: ProfileNode['callFrame']) => boolean][] = [
  ['attention', (f) => f.functionName === 'attend' && f.url.includes('decoder/step')],
  ['GELU', (f) => f.functionName === 'activation' && f.url.includes('decoder/step')],
  ['LayerNorm', (f) => f.functionName === 'norm' && f.url.includes('decoder/step')],
  ['messages to and from the accelerator', (f) => f.functionName === 'postMessage' || /node:internal\/(worker|per_context\/messageport|event_target)|accel\/worker\//.test(f.url)],
  ['linear boundary (quantize, accept, check, scale)', (f) => /\/(boundary|verify|simd)\/|fixed-point|executor|boundary-plan|protocols\//.test(f.url)],
  ['pads', (f) => /pad-pool|token-pads|pad-lease/.test(f.url)],
  ['sampling', (f) => f.url.includes('generate/sampling')],
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
];

export class CpuProfiler {
  private readonly session = new Session();

  async start(intervalUs = 500): Promise<void> {
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await this.session.post('Profiler.start');
  }

  async stop(): Promise<CpuProfile> {
    const { profile } = (await this.session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    this.session.disconnect();
    return profile;
  }
}

/** Milliseconds of the profile by category (idle and the profiler's own work left out), divided by `per`. */
export function cpuByCategory(profile: CpuProfile, per = 1): Record<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const category = new Map<number, string | undefined>();
  const categoryOf = (id: number): string | undefined => {
    if (category.has(id)) return category.get(id);
    let found: string | undefined = 'other';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (frame.functionName === '(idle)' || frame.url.startsWith('node:inspector')) {
        found = undefined;
        break;
      }
      const hit = CATEGORIES.find(([, test]) => test(frame));
      if (hit !== undefined) {
        found = hit[0];
        break;
      }
    }
    category.set(id, found);
    return found;
  };
  const out: Record<string, number> = {};
  profile.samples.forEach((id, i) => {
    const c = categoryOf(id);
    if (c !== undefined) out[c] = (out[c] ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000 / per;
  });
  return out;
}
