/**
 * What one inference actually did, written by the protocol at the moment it decides (docs/design.md §5):
 * for each linear layer where it was computed and under which check, and the failures recovered
 * from. A result, a reply and a receipt report this record, never a reconstruction from the mode:
 * under `recompute` a layer recomputed in the trusted runtime says so, and the soundness claimed
 * covers only the layers that were checked (checkedSoundnessLog2).
 */
import { sampleSetSize } from '../field/random.js';
import { log2ErrorPerInference } from '../verify/soundness.js';
import type { Verifier } from '../verify/verifier.js';

/** Where a linear layer's f(x) came from, and what vouches for it. */
export type LayerPlace = 'accelerator+freivalds' | 'accelerator (unchecked)' | 'trusted';

export interface LayerRun {
  readonly layer: string;
  readonly ran: LayerPlace;
  /** Why a layer of an outsourcing mode ran in the trusted runtime (absent otherwise). */
  readonly reason?: string;
}

/** A failure recovered from during an inference (a refused reply, a skipped pad, a local fallback). */
export interface Incident {
  readonly layer: string;
  readonly code: string;
  readonly message: string;
}

/** Why a layer ran in the trusted runtime. */
export const TRUSTED_REASONS = {
  baseline: 'mode baseline',
  noPad: 'no pad left (policy local): the whole inference ran in the trusted runtime',
  quarantined: 'no accelerator admitted (each quarantined after a refused reply; a service re-admits one after a canary)',
  distrusted: 'the accelerator is no longer asked: its reply was refused earlier',
  recomputed: (code: string) => `recomputed after the accelerator's reply was refused (${code})`,
} as const;

/** One inference's record: appended to as its layers cross, in order. */
export class ExecutionLog {
  readonly layers: LayerRun[] = [];
  readonly incidents: Incident[] = [];

  accelerator(layer: string, checked: boolean): void {
    this.layers.push({ layer, ran: checked ? 'accelerator+freivalds' : 'accelerator (unchecked)' });
  }

  trusted(layer: string, reason: string): void {
    this.layers.push({ layer, ran: 'trusted', reason });
  }

  incident(incident: Incident): void {
    this.incidents.push(incident);
  }
}

/**
 * log2 of the probability that a wrong result passed the checked layers of `layers` (the union
 * bound over those layers only, verify/soundness.ts); null when no layer was checked.
 */
export function checkedSoundnessLog2(verifier: Pick<Verifier, 'variant' | 'repetitions' | 'sampleSet'>, layers: readonly LayerRun[]): number | null {
  const checked = layers.filter((l) => l.ran === 'accelerator+freivalds').length;
  return checked === 0 ? null : log2ErrorPerInference(verifier.variant, sampleSetSize(verifier.sampleSet), checked, verifier.repetitions);
}
