/** Per-phase wall-clock accounting for one inference (milliseconds by phase name). */
export class PhaseTimer {
  readonly ms: Record<string, number> = {};

  add(phase: string, ms: number): void {
    this.ms[phase] = (this.ms[phase] ?? 0) + ms;
  }

  time<T>(phase: string, f: () => T): T {
    const start = performance.now();
    try {
      return f();
    } finally {
      this.add(phase, performance.now() - start);
    }
  }

  async timeAsync<T>(phase: string, f: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await f();
    } finally {
      this.add(phase, performance.now() - start);
    }
  }
}
