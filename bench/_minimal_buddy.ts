/**
 * Anchor for the buddy figure, measured in the same run: the smallest buddy allocator that can
 * serve the benchmark's workload — one free list per order (no migratetypes), intrusive links
 * interleaved in one Int32Array (next, prev), one byte of state per frame (0 = not a free block
 * head, k + 1 = head of a free block of order k), merging on free, splitting on allocation.
 * No `struct page` fields, no bad-page checks, no folios, no counters: the design behind the
 * issue's anchors (C 35–47 M ops/s, TypeScript 21–26 M ops/s, 9 bytes per frame).
 *
 * The workload is `bench/buddy_bench.ts`'s `churn`: the same xorshift32 stream, the same
 * alloc/free decision and order draw (the migratetype draw is ignored), ~50 % of the frames in
 * use, frees of a uniformly chosen live block.
 *
 * @module
 */

const NIL = -1;

/** The minimal allocator and its live-block table. */
export class MinimalBuddy {
  readonly nrFrames: number;
  readonly maxOrder: number;
  /** next = links[2 pfn], prev = links[2 pfn + 1]. */
  readonly links: Int32Array;
  /** 0, or order + 1 on the head frame of a free block. */
  readonly state: Uint8Array;
  /** Order of each live (allocated) block, on its head frame. */
  readonly liveOrder: Uint8Array;
  readonly head: Int32Array;
  readonly livePfn: Int32Array;
  live = 0;
  used = 0;
  seed: number;

  constructor(nrFrames: number, seed = 0x9e3779b9, maxOrder = 10) {
    this.nrFrames = nrFrames;
    this.maxOrder = maxOrder;
    this.links = new Int32Array(2 * nrFrames).fill(NIL);
    this.state = new Uint8Array(nrFrames);
    this.liveOrder = new Uint8Array(nrFrames);
    this.head = new Int32Array(maxOrder + 1).fill(NIL);
    this.livePfn = new Int32Array(nrFrames);
    this.seed = seed;
    for (let p = 0; p < nrFrames; p += 1 << maxOrder) this.add(p, maxOrder);
    while (this.used < nrFrames >>> 1) this.churn(1, true);
  }

  private add(p: number, o: number): void {
    const links = this.links, h = this.head[o]!;
    links[2 * p] = h;
    links[2 * p + 1] = NIL;
    if (h !== NIL) links[2 * h + 1] = p;
    this.head[o] = p;
    this.state[p] = o + 1;
  }

  private del(p: number, o: number): void {
    const links = this.links;
    const n = links[2 * p]!, q = links[2 * p + 1]!;
    if (q === NIL) this.head[o] = n;
    else links[2 * q] = n;
    if (n !== NIL) links[2 * n + 1] = q;
    this.state[p] = 0;
  }

  /** Allocate a block of order `o`; NIL if none. */
  alloc(o: number): number {
    for (let c = o; c <= this.maxOrder; c++) {
      const p = this.head[c]!;
      if (p === NIL) continue;
      this.del(p, c);
      while (c > o) {
        c--;
        this.add(p + (1 << c), c);
      }
      return p;
    }
    return NIL;
  }

  /** Free the block of order `o` at `p`, merging with free buddies. */
  free(p: number, o: number): void {
    const state = this.state;
    while (o < this.maxOrder) {
      const b = p ^ (1 << o);
      if (state[b] !== o + 1) break;
      this.del(b, o);
      p &= b;
      o++;
    }
    this.add(p, o);
  }

  /** `ops` operations of buddy_bench's workload; returns `ops`. */
  churn(ops: number, fillOnly = false): number {
    const livePfn = this.livePfn, liveOrder = this.liveOrder;
    const half = this.nrFrames >>> 1;
    let x = this.seed | 0, live = this.live, used = this.used;
    for (let i = 0; i < ops; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const r = x >>> 0;
      if (fillOnly || live === 0 || (r & 7) < (used < half ? 5 : 3)) {
        const bits = (r >>> 3) | 0x400;
        const o = 31 - Math.clz32(bits & -bits);
        const p = this.alloc(o);
        if (p === NIL) continue;
        livePfn[live++] = p;
        liveOrder[p] = o;
        used += 1 << o;
      } else {
        const j = live - 1 - Math.floor((r >>> 3) * live / 536870912);
        const p = livePfn[j]!;
        livePfn[j] = livePfn[--live]!;
        const o = liveOrder[p]!;
        this.free(p, o);
        used -= 1 << o;
      }
    }
    this.seed = x;
    this.live = live;
    this.used = used;
    return ops;
  }

  /** Bytes of allocator state per frame (links + state byte; the live table is the workload's). */
  bytesPerFrame(): number {
    return (this.links.byteLength + this.state.byteLength) / this.nrFrames;
  }
}
