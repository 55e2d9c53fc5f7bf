/**
 * How an inference reports where its time goes (docs/design.md §6): a run observer sees each phase's
 * milliseconds as they are spent, per layer. Phases: `boundary` (a layer's one fused pass; or, with
 * `fuse: false`, its owners' passes apart: `validate`, `verify`, `unblind`, `requantize`, `quantize`,
 * `blind`), `transfer` (copying and posting a request), `accelerator` (waiting for the reply),
 * `keystream` and `unseal` (the pads, while the accelerator works), `pad` (taking a pad), `linear`
 * (a layer computed in the trusted runtime) and `nonlinear`. Everything but `accelerator` is the
 * trusted runtime's own work.
 */

export interface RunObserver {
  /** `ms` of `phase`, spent on the linear layer `layer` (undefined outside any layer). */
  phase(phase: string, ms: number, layer?: string): void;
}

export interface LayerTiming {
  readonly name: string;
  /** Milliseconds of the layer's phases (waiting included). */
  readonly ms: number;
  readonly phases: Record<string, number>;
}

/** Sums an inference's phases, in total and per layer (what an InferenceResult reports). */
export class PhaseTotals implements RunObserver {
  readonly ms: Record<string, number> = {};
  private readonly byLayer = new Map<string, Record<string, number>>();

  phase(phase: string, ms: number, layer?: string): void {
    this.ms[phase] = (this.ms[phase] ?? 0) + ms;
    if (layer === undefined) return;
    let phases = this.byLayer.get(layer);
    if (phases === undefined) this.byLayer.set(layer, (phases = {}));
    phases[phase] = (phases[phase] ?? 0) + ms;
  }

  layers(): LayerTiming[] {
    return [...this.byLayer].map(([name, phases]) => ({ name, ms: Object.values(phases).reduce((a, b) => a + b, 0), phases }));
  }
}

/** Times `f` as `phase` of `layer`. */
export function timed<T>(observer: RunObserver, phase: string, layer: string | undefined, f: () => T): T {
  const start = performance.now();
  try {
    return f();
  } finally {
    observer.phase(phase, performance.now() - start, layer);
  }
}

export async function timedAsync<T>(observer: RunObserver, phase: string, layer: string | undefined, f: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await f();
  } finally {
    observer.phase(phase, performance.now() - start, layer);
  }
}
