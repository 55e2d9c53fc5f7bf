/**
 * Peak resident set size, sampled: every `intervalMs` on a timer (which only fires while the event
 * loop is free, e.g. while waiting on the accelerator or onnxruntime) and whenever the harness calls
 * sample() (after every inference). The accelerator worker thread shares the process, so its
 * memory is included. A synchronous phase's transient peak can be missed; the process-lifetime
 * maximum (process.resourceUsage().maxRSS) is reported separately.
 */
export class RssSampler {
  private max = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 25) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.max) this.max = rss;
  }

  reset(): void {
    this.max = 0;
    this.sample();
  }

  peak(): number {
    this.sample();
    return this.max;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** The process's lifetime peak RSS in bytes. */
export function lifetimeMaxRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}
