/**
 * A bounded-by-its-owner queue of one FIFO per client, taken round-robin (issue 5; issue 15: the
 * fair share of both servers). The accelerator service takes batches of requests with the same
 * per-item shape; the trusted service takes one request at a time (`take(1)`). Who may enqueue, and
 * how many, is the owner's decision (503 + Retry-After past its limit).
 */

/** What FairQueue needs of a queued request. */
export interface QueueItem {
  readonly client: string;
  readonly items: number;
  readonly shapeKey: string;
  readonly enqueuedAt: number;
}

/** One FIFO per client; batches are taken round-robin over the clients. */
export class FairQueue<E extends QueueItem> {
  private readonly byClient = new Map<string, E[]>();
  private ring: string[] = [];
  private cursor = 0;
  size = 0;
  items = 0;

  push(e: E): void {
    let q = this.byClient.get(e.client);
    if (q === undefined) {
      q = [];
      this.byClient.set(e.client, q);
      this.ring.push(e.client);
    }
    q.push(e);
    this.size++;
    this.items += e.items;
  }

  remove(e: E): boolean {
    const q = this.byClient.get(e.client);
    const i = q?.indexOf(e) ?? -1;
    if (q === undefined || i < 0) return false;
    q.splice(i, 1);
    this.size--;
    this.items -= e.items;
    if (q.length === 0) this.dropClient(e.client);
    return true;
  }

  private dropClient(client: string): void {
    this.byClient.delete(client);
    const i = this.ring.indexOf(client);
    this.ring.splice(i, 1);
    if (i < this.cursor) this.cursor--;
    if (this.cursor >= this.ring.length) this.cursor = 0;
  }

  /** Enqueue time of the oldest request (the oldest head). */
  oldestAt(): number {
    let t = Infinity;
    for (const q of this.byClient.values()) if (q[0]!.enqueuedAt < t) t = q[0]!.enqueuedAt;
    return t;
  }

  /** Takes a batch: round-robin over clients, same per-item shape as the first taken, at most maxItems items (the first is always taken). */
  take(maxItems: number): E[] {
    const batch: E[] = [];
    let items = 0;
    let shape: string | undefined;
    let progress = true;
    while (progress && this.ring.length > 0) {
      progress = false;
      const clients = this.ring.length;
      for (let k = 0; k < clients && this.ring.length > 0; k++) {
        if (this.cursor >= this.ring.length) this.cursor = 0;
        const client = this.ring[this.cursor]!;
        const q = this.byClient.get(client)!;
        const head = q[0]!;
        if ((shape === undefined || head.shapeKey === shape) && (batch.length === 0 || items + head.items <= maxItems)) {
          shape = head.shapeKey;
          q.shift();
          batch.push(head);
          items += head.items;
          this.size--;
          this.items -= head.items;
          progress = true;
          if (q.length === 0) {
            this.dropClient(client); // the next client moves to the cursor
          } else {
            this.cursor = (this.cursor + 1) % this.ring.length;
          }
          if (items >= maxItems) return batch;
        } else {
          this.cursor = (this.cursor + 1) % this.ring.length;
        }
      }
    }
    return batch;
  }

  drain(): E[] {
    const all = [...this.byClient.values()].flat();
    this.byClient.clear();
    this.ring = [];
    this.cursor = 0;
    this.size = 0;
    this.items = 0;
    return all;
  }
}
