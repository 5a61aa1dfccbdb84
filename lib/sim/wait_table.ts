/**
 * Hashed, shared bit-wait tables: the kernel's folio wait table.
 *
 * Follows mm/filemap.c (Linux v6.12): `folio_waitqueue()` hashes the folio's address into
 * `folio_wait_table[PAGE_WAIT_TABLE_SIZE]` (256 buckets), `folio_wait_bit_common()` sets
 * PG_waiters and queues a `wait_page_queue` keyed by (folio, bit) at the bucket's tail,
 * `folio_wake_bit()` walks the bucket with `wake_page_function()`, which wakes every
 * non-exclusive waiter whose key matches — even when the bit has been set again meanwhile
 * (since 2a9127fcf229, "rewrite wait_on_page_bit_common() logic") — and clears PG_waiters
 * when no waiter for that folio is left.
 *
 * The key is the *frame* (the `struct page` address), not its current use: a wake issued for
 * a frame's previous use reaches a waiter of its new use. That is the wakeup "leak" of
 * 073861ed77b6 (CLAIMS.md thread 003). Woken waiters that find the bit still set are counted as
 * spurious wakes.
 *
 * The table knows nothing about folios: the model passes {@link BitOps} that read and write
 * its flag bits.
 *
 * Divergence: no lock hand-off (WQ_FLAG_CUSTOM after `sysctl_page_lock_unfairness` retries);
 * an exclusive waiter is woken only while the bit is clear and then retries test_and_set_bit
 * itself, as before the hand-off was added. No claim here depends on lock fairness.
 *
 * @module
 */

import type { Engine, Process, Task } from "./engine.ts";
import { type Waiter, WaitQueue, type WaitTarget } from "./wait_queue.ts";

/**
 * How a bit wait behaves, as mm/filemap.c `enum behavior`.
 *
 * @example
 * ```ts
 * import { Engine, type WaitBehavior, WaitTable } from "@mmsim/mmsim";
 * const flags = new Uint8Array(1);
 * const table = new WaitTable("t", {
 *   testBit: (o, b) => (flags[o]! & (1 << b)) !== 0,
 *   testAndSetBit: (o, b) => {
 *     const old = (flags[o]! & (1 << b)) !== 0;
 *     flags[o] = flags[o]! | (1 << b);
 *     return old;
 *   },
 *   setWaiters: () => {},
 *   clearWaiters: () => {},
 * });
 * // On a clear bit, EXCLUSIVE (folio_lock) returns holding it; SHARED (folio_wait_locked) does not.
 * for (const behavior of ["SHARED", "EXCLUSIVE"] as WaitBehavior[]) {
 *   flags[0] = 0;
 *   const e = new Engine();
 *   e.spawn("t", function* (env) { yield* table.waitBit(env, 0, 0, behavior); });
 *   e.run();
 *   if ((flags[0] === 1) !== (behavior === "EXCLUSIVE")) throw new Error(behavior);
 * }
 * ```
 */
export type WaitBehavior = "EXCLUSIVE" | "SHARED" | "DROP";

/**
 * Bit operations the table needs from the model.
 *
 * @example folio_lock / folio_unlock over a flags array
 * ```ts
 * import { type BitOps, Engine, WaitTable } from "@mmsim/mmsim";
 * const PG_locked = 0, PG_waiters = 7;
 * const flags = new Uint8Array(8);
 * const ops: BitOps = {
 *   testBit: (pfn, bit) => (flags[pfn]! & (1 << bit)) !== 0,
 *   testAndSetBit: (pfn, bit) => {
 *     const old = (flags[pfn]! & (1 << bit)) !== 0;
 *     flags[pfn] = flags[pfn]! | (1 << bit);
 *     return old;
 *   },
 *   setWaiters: (pfn) => { flags[pfn] = flags[pfn]! | (1 << PG_waiters); },
 *   clearWaiters: (pfn) => { flags[pfn] = flags[pfn]! & ~(1 << PG_waiters); },
 *   describe: (pfn, bit) => `bit ${bit} of pfn ${pfn}`,
 * };
 * const table = new WaitTable("folio_wait_table", ops);
 * const e = new Engine();
 * let inside = 0, maxInside = 0;
 * for (const n of ["a", "b"]) {
 *   e.spawn(n, function* (env) {
 *     yield* table.waitBit(env, 3, PG_locked, "EXCLUSIVE"); // folio_lock
 *     maxInside = Math.max(maxInside, ++inside);
 *     yield env.sleep(5);
 *     inside--;
 *     flags[3] = flags[3]! & ~(1 << PG_locked); // folio_unlock: clear, then wake
 *     table.wakeBit(3, PG_locked);
 *   });
 * }
 * e.run();
 * if (maxInside !== 1) throw new Error("PG_locked must exclude");
 * if (ops.testBit(3, PG_waiters)) throw new Error("PG_waiters cleared once no waiter is left");
 * ```
 */
export interface BitOps {
  /** test_bit(bit, flags of obj). */
  testBit(obj: number, bit: number): boolean;
  /** test_and_set_bit: set it, return the old value (for EXCLUSIVE waits, e.g. PG_locked). */
  testAndSetBit(obj: number, bit: number): boolean;
  /** folio_set_waiters. */
  setWaiters(obj: number): void;
  /** folio_clear_waiters. */
  clearWaiters(obj: number): void;
  /** Describe the wait for reports ("PG_writeback of pfn 7"). */
  describe?(obj: number, bit: number): string;
  /** Who holds the bit (for wait-for graphs). */
  holders?(obj: number, bit: number): Array<Task | WaitTarget>;
}

/**
 * Counters of a {@link WaitTable}.
 *
 * @example Two frames share a bucket: a wake for one skips the other's waiter
 * ```ts
 * import { Engine, WaitTable, type WaitTableStats } from "@mmsim/mmsim";
 * const WB = 0;
 * const flags = new Uint8Array([0, 1, 0]); // pfn 1 under writeback
 * const table = new WaitTable("one bucket", {
 *   testBit: (o, b) => (flags[o]! & (1 << b)) !== 0,
 *   testAndSetBit: () => false,
 *   setWaiters: () => {},
 *   clearWaiters: () => {},
 * }, 0);
 * const e = new Engine();
 * e.spawn("waiter", function* (env) { yield* table.waitBit(env, 1, WB, "SHARED"); });
 * e.spawn("end_io", function* (env) {
 *   yield env.sleep(1);
 *   table.wakeBit(2, WB); // another frame in the same bucket
 *   flags[1] = 0;
 *   table.wakeBit(1, WB);
 * });
 * e.run();
 * const s: WaitTableStats = table.stats;
 * if (s.wakeCalls !== 2 || s.keyMismatches !== 1 || s.woken !== 1 || s.spurious !== 0) {
 *   throw new Error(JSON.stringify(s));
 * }
 * ```
 */
export interface WaitTableStats {
  /** folio_wake_bit calls. */
  wakeCalls: number;
  /** Waiters woken. */
  woken: number;
  /** Non-exclusive waiters woken while their bit was set (they must re-check). */
  spurious: number;
  /** Waiters skipped during walks because their key did not match (hash sharing). */
  keyMismatches: number;
}

interface BitKey {
  obj: number;
  bit: number;
}

interface WakeKey extends BitKey {
  pageMatch: boolean;
}

/**
 * A hashed wait table keyed by (object, bit).
 *
 * @example A wake reaches every waiter of the frame, even if the bit is set again
 * ```ts
 * import { Engine, WaitTable } from "@mmsim/mmsim";
 * const flags = new Uint32Array(4);
 * const WB = 1, WAITERS = 7;
 * const table = new WaitTable("folio_wait_table", {
 *   testBit: (o, b) => ((flags[o]! >> b) & 1) === 1,
 *   testAndSetBit: (o, b) => { const old = ((flags[o]! >> b) & 1) === 1; flags[o]! |= 1 << b; return old; },
 *   setWaiters: (o) => { flags[o]! |= 1 << WAITERS; },
 *   clearWaiters: (o) => { flags[o]! &= ~(1 << WAITERS); },
 * });
 * const e = new Engine();
 * flags[2]! |= 1 << WB;
 * let sawSet = false;
 * e.spawn("waiter", function* (env) {
 *   yield* table.waitBit(env, 2, WB, "SHARED");
 *   sawSet = ((flags[2]! >> WB) & 1) === 1;
 * });
 * e.spawn("end_io", function* (env) {
 *   yield env.sleep(1);
 *   flags[2]! &= ~(1 << WB);   // clear PG_writeback…
 *   flags[2]! |= 1 << WB;      // …someone sets it again…
 *   table.wakeBit(2, WB);      // …then the wake arrives
 * });
 * e.run();
 * if (!sawSet || table.stats.spurious !== 1) throw new Error("expected a spurious wake");
 * ```
 */
export class WaitTable {
  /** Name in reports. */
  readonly name: string;
  /** The buckets. */
  readonly buckets: WaitQueue[];
  /** Counters. */
  readonly stats: WaitTableStats = { wakeCalls: 0, woken: 0, spurious: 0, keyMismatches: 0 };
  readonly #ops: BitOps;
  readonly #mask: number;
  #engine: Engine | null = null;

  /**
   * Create a table of 2^bits buckets.
   *
   * @param name Name in reports.
   * @param ops Bit operations on the model's flags.
   * @param bits log2 of the bucket count (PAGE_WAIT_TABLE_BITS = 8).
   */
  constructor(name: string, ops: BitOps, bits = 8) {
    this.name = name;
    this.#ops = ops;
    this.#mask = (1 << bits) - 1;
    this.buckets = [];
    for (let i = 0; i <= this.#mask; i++) {
      const q = new WaitQueue(`${name}[${i}]`);
      q.wakeFunction = (w, key) => this.#wakePageFunction(w, key as WakeKey);
      q.describeWaiter = (w) => {
        const k = w.key as BitKey;
        return ops.describe ? ops.describe(k.obj, k.bit) : `bit ${k.bit} of ${k.obj}`;
      };
      q.owners = (w) => {
        const k = w.key as BitKey;
        return ops.holders ? ops.holders(k.obj, k.bit) : [];
      };
      this.buckets.push(q);
    }
  }

  /** folio_waitqueue(): the bucket of `obj` (a multiplicative hash, like hash_ptr). */
  bucket(obj: number): WaitQueue {
    return this.buckets[(Math.imul(obj + 1, 0x9e3779b1) >>> 16) & this.#mask]!;
  }

  /**
   * folio_wait_bit_common(): wait until `bit` of `obj` is clear (SHARED/DROP: return on the
   * first wake, without re-checking — callers that must see the bit clear loop, as
   * folio_wait_writeback does), or take it (EXCLUSIVE: return holding the bit, as
   * folio_lock). Use with `yield*`. Returns true if it slept.
   */
  *waitBit(env: Engine, obj: number, bit: number, behavior: WaitBehavior): Process<boolean> {
    this.#engine = env;
    const ops = this.#ops;
    const exclusive = behavior === "EXCLUSIVE";
    const q = this.bucket(obj);
    let slept = false;
    for (;;) {
      ops.setWaiters(obj);
      // folio_trylock_flag(): the last synchronous check, under the queue lock.
      if (exclusive ? !ops.testAndSetBit(obj, bit) : !ops.testBit(obj, bit)) {
        return slept;
      }
      const w = q.prepare(env.current!, exclusive, { obj, bit } satisfies BitKey);
      // __add_wait_queue_entry_tail: page waiters always go to the tail.
      if (!exclusive) {
        q.waiters.shift();
        q.waiters.push(w);
      }
      env.emit("folio_wait_bit", obj, bit, behavior);
      yield env.waitOn(w);
      slept = true;
      if (!exclusive) return slept;
      // Woken while the bit was clear: try to take it; if someone beat us, wait again.
      if (!ops.testAndSetBit(obj, bit)) return slept;
    }
  }

  /**
   * folio_wake_bit(): wake the waiters of (`obj`, `bit`) in its bucket, then clear PG_waiters
   * if none of the bucket's remaining waiters is for `obj`.
   */
  wakeBit(obj: number, bit: number): number {
    this.stats.wakeCalls++;
    const q = this.bucket(obj);
    const key: WakeKey = { obj, bit, pageMatch: false };
    const n = q.wakeUp(1, key);
    if (!q.active || !key.pageMatch) this.#ops.clearWaiters(obj);
    return n;
  }

  /** Number of waiters queued for `obj` (any bit). */
  waitersOf(obj: number): number {
    let n = 0;
    for (const w of this.bucket(obj).waiters) if ((w.key as BitKey).obj === obj) n++;
    return n;
  }

  #wakePageFunction(w: Waiter, key: WakeKey): number {
    // wake_page_match(): another folio → skip; same folio, other bit → page_match but skip.
    const k = w.key as BitKey;
    if (k.obj !== key.obj) {
      this.stats.keyMismatches++;
      return 0;
    }
    key.pageMatch = true;
    if (k.bit !== key.bit) return 0;
    const set = this.#ops.testBit(key.obj, key.bit);
    if (w.exclusive && set) return -1;
    this.stats.woken++;
    if (set) {
      this.stats.spurious++;
      this.#engine?.emit("folio_wake_bit_spurious", key.obj, key.bit, w.task.toString());
    }
    return 1;
  }
}
