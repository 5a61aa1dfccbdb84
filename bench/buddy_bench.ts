/**
 * Buddy allocator throughput: random alloc/free over 4 Mi frames (16 GiB of 4 KiB pages) held
 * at about 50 % use, and bytes of buddy state per frame.
 *
 * Workload: each operation allocates with probability 5/8 while fewer than half the frames are
 * in use and 3/8 otherwise, else frees a uniformly chosen live block. Orders 0–10 are drawn
 * geometrically, weighted toward small ones: P(order k) = 2^-(k+1) for k < 10, and order 10
 * takes the remaining 2^-10 (mean ≈ 5.5 pages per block). Migratetypes: MOVABLE 80 %,
 * UNMOVABLE 15 %, RECLAIMABLE 5 % (so fallbacks and pageblock claiming happen); blocks of order
 * > 0 are folios (`compound`). A failed allocation (fragmentation) counts as an operation.
 * The random numbers come from an inline xorshift32 (no closures, no objects per operation).
 *
 * Run: `deno bench bench/buddy_bench.ts`, or `deno run bench/buddy_bench.ts` for ops/s (median
 * of 5 runs of 10 M operations) and the bytes-per-frame figures.
 *
 * @module
 */

import { MIGRATE, NIL, PhysMem } from "../lib/mm/memory.ts";
import { Zone } from "../lib/mm/buddy.ts";
import { freeShareBelowOrder } from "../lib/mm/fragment.ts";

/** State of one benchmark run: the zone and the live blocks. */
export interface BuddyBench {
  /** The zone under test. */
  zone: Zone;
  /** Head pfns of the live blocks (first `live` entries valid). */
  livePfn: Int32Array;
  /** Number of live blocks. */
  live: number;
  /** Pages in use. */
  usedPages: number;
  /** xorshift32 state. */
  seed: number;
  /** Allocations that returned -1. */
  failed: number;
}

/** Create the zone (4 Mi frames by default) and fill it to 50 % with the workload's mix. */
export function setupBuddyBench(nrFrames = 4 << 20, seed = 0x9e3779b9): BuddyBench {
  const mem = new PhysMem({ nrFrames });
  const zone = new Zone(mem);
  const b: BuddyBench = {
    zone,
    livePfn: new Int32Array(nrFrames),
    live: 0,
    usedPages: 0,
    seed,
    failed: 0,
  };
  while (b.usedPages < nrFrames >>> 1) churn(b, 1, true);
  return b;
}

/**
 * Run `ops` operations (alloc or free); `fillOnly` forces allocations. `recent` > 0 frees one of
 * the `recent` most recently placed live blocks instead of any live block (temporal locality).
 */
export function churn(b: BuddyBench, ops: number, fillOnly = false, recent = 0): void {
  const zone = b.zone;
  const mem = zone.mem;
  const order = mem.order, refcount = mem.refcount;
  const livePfn = b.livePfn;
  const half = mem.nrFrames >>> 1;
  let x = b.seed | 0;
  let live = b.live, used = b.usedPages, failed = b.failed;
  for (let i = 0; i < ops; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const r = x >>> 0;
    const allocate = fillOnly || live === 0 || (r & 7) < (used < half ? 5 : 3);
    if (allocate) {
      // Order: count of trailing zero bits of the upper 29 bits, capped at 10.
      const bits = (r >>> 3) | 0x400;
      const o = 31 - Math.clz32(bits & -bits);
      const m = ((r >>> 24) * 20) >>> 8; // 0..19
      const mt = m < 16 ? MIGRATE.MOVABLE : m < 19 ? MIGRATE.UNMOVABLE : MIGRATE.RECLAIMABLE;
      const pfn = zone.allocPages(o, mt, o > 0);
      if (pfn === NIL) {
        failed++;
        continue;
      }
      livePfn[live++] = pfn;
      used += 1 << o;
    } else {
      const span = recent > 0 && recent < live ? recent : live;
      const j = live - 1 - Math.floor((r >>> 3) * span / 536870912);
      const pfn = livePfn[j]!;
      livePfn[j] = livePfn[--live]!;
      const o = order[pfn]!;
      refcount[pfn] = 0;
      zone.freePages(pfn, o);
      used -= 1 << o;
    }
  }
  b.seed = x;
  b.live = live;
  b.usedPages = used;
  b.failed = failed;
}

/** Measure ops/s: median of `runs` runs of `ops` operations after one warm-up run. */
export function measureBuddy(b: BuddyBench, ops = 10_000_000, runs = 5, recent = 0): number {
  churn(b, ops, false, recent);
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    churn(b, ops, false, recent);
    rates.push(ops / ((performance.now() - t0) / 1000));
  }
  rates.sort((p, q) => p - q);
  return rates[runs >>> 1]!;
}

/**
 * Bytes of buddy-allocator state per frame: the free-list links `next`/`prev` (shared with the
 * LRU, the kernel's list_head union) and `order`; PG.buddy is a bit of `flags`. The per-zone
 * list heads, tails and counts are O(orders × migratetypes), amortised over the frames.
 */
export function buddyBytesPerFrame(zone: Zone): number {
  const mem = zone.mem;
  const perZone = zone.freeHead.byteLength + zone.freeTail.byteLength +
    zone.nrFreeType.byteLength + zone.nrFree.byteLength;
  return mem.next.BYTES_PER_ELEMENT + mem.prev.BYTES_PER_ELEMENT + mem.order.BYTES_PER_ELEMENT +
    perZone / zone.managedPages;
}

if (import.meta.main) {
  const b = setupBuddyBench();
  const rate = measureBuddy(b);
  const total = b.zone.managedPages;
  console.log(`buddy alloc/free, 4 Mi frames, ~50 % used: ${(rate / 1e6).toFixed(1)} M ops/s`);
  const recent = measureBuddy(setupBuddyBench(), 10_000_000, 5, 256);
  console.log(
    `  same, freeing one of the 256 most recent blocks: ${(recent / 1e6).toFixed(1)} M ops/s`,
  );
  const small = setupBuddyBench(1 << 16);
  console.log(
    `  same workload over 64 Ki frames (state fits in cache): ` +
      `${(measureBuddy(small) / 1e6).toFixed(1)} M ops/s`,
  );
  console.log(
    `  in use at end: ${(100 * b.usedPages / total).toFixed(1)} %, failed allocations: ` +
      `${b.failed}, free share below order 9: ${freeShareBelowOrder(b.zone, 9).toFixed(3)}`,
  );
  console.log(`  buddy state: ${buddyBytesPerFrame(b.zone).toFixed(3)} bytes/frame`);
  console.log(`  PhysMem total: ${b.zone.mem.bytesPerFrame().toFixed(3)} bytes/frame`);
} else {
  let bench: BuddyBench | undefined;
  Deno.bench("buddy alloc/free ×1M, 4 Mi frames at ~50 % use", { n: 10, warmup: 2 }, () => {
    bench ??= setupBuddyBench();
    churn(bench, 1_000_000);
  });
  let small: BuddyBench | undefined;
  Deno.bench("buddy alloc/free ×1M, 64 Ki frames at ~50 % use", { n: 10, warmup: 2 }, () => {
    small ??= setupBuddyBench(1 << 16);
    churn(small, 1_000_000);
  });
}
