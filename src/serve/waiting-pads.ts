/**
 * A decoder lane's pad source (served-model.ts). An inference takes its one pad before anything is
 * sent, so the service applies `--on-empty wait` by running the request again once the refill made a
 * pad; a generation takes a pad per step, mid-way, with its KV cache and its sampling stream in
 * flight, so a step that finds none has to wait right there. This source does that: under policy
 * 'wait' a step that finds the source empty waits for the refill up to the request's deadline (set
 * per request) and takes the pad then; past the deadline, or under 'fail' and 'local', it raises
 * PadsExhaustedError and the session's own policy ends the generation ('no-pads') or runs the step in
 * the trusted runtime — each recorded in the result and its receipt.
 */
import { hasErrorCode } from '../errors.js';
import type { PadLease, PadSource } from '../runtime/pad-lease.js';
import type { EmptyPolicy } from './served-model.js';

export class WaitingPads implements PadSource {
  /** performance.now() past which a step no longer waits (the running request's deadline). */
  deadline = 0;

  constructor(
    private readonly source: PadSource,
    private readonly policy: EmptyPolicy,
    /** Resolves true once a pad is ready (asking the refill for one), false after the time given. */
    private readonly waitForPad: (timeoutMs: number) => Promise<boolean>,
    /** Called each time a step starts waiting (the metrics count it). */
    private readonly onWait: () => void,
  ) {}

  begin(): PadLease {
    return this.source.begin();
  }

  async acquire(): Promise<PadLease> {
    for (;;) {
      try {
        return this.source.begin();
      } catch (e) {
        if (this.policy !== 'wait' || !hasErrorCode(e, 'SLALOM_ERR_PADS_EXHAUSTED')) throw e;
        const left = this.deadline - performance.now();
        if (left <= 0) throw e;
        this.onWait();
        if (!(await this.waitForPad(left))) throw e;
      }
    }
  }

  inventory(): { readonly remaining: number } {
    return this.source.inventory();
  }

  get skipped(): readonly number[] {
    return this.source.skipped;
  }
}
