/**
 * Shared machinery of the thread 003 worlds (thread003_wb.ts, thread003_netfs.ts,
 * thread003_migrate.ts):
 *
 * - allocator pressure ({@link Pressure}): take every frame of the zone but a few, so that a
 *   frame freed by truncation or reclaim is the next one handed out, and measure page reuse
 *   (how long a freed frame stays free). A frame leaked by a bad page (the kernel never frees a
 *   page freed in a bad state) is replaced from the taken ones, so the pressure stays the same;
 *   when none is left the run is stopped. {@link takeEveryFrame} is the small worlds' version;
 * - the page-cache steps the tasks repeat: add a locked folio ({@link addLockedFolio}), read
 *   pages in ({@link readIn}), lock the folio cached at an index and act on it
 *   ({@link lockCachedFolio}, {@link writeIndexToCache});
 * - the stress worlds' tasks and runs: exponential think times ({@link thinkNs},
 *   {@link spawnEvery}), stopping after a number of completions ({@link runToCompletions}),
 *   and the sweeps ({@link logSweep}, {@link grid}).
 *
 * Private to lib/claims. Not a kernel model.
 *
 * @module
 */

import type { Engine, Process, RunResult } from "../sim/engine.ts";
import { waitEvent, WaitQueue } from "../sim/wait_queue.ts";
import { type AddressSpace, filemapAddFolio, filemapGetEntry } from "../mm/address_space.ts";
import {
  folioAlloc,
  folioLock,
  folioPut,
  folioTryGet,
  folioTrylock,
  folioUnlock,
} from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import type { Mm } from "../mm/mm.ts";
import type { Netfs } from "../fs/netfs.ts";

/** Frames held back from the allocator, and reuse statistics. */
export class Pressure {
  /** Frames freed since the start. */
  frees = 0;
  /** Allocations that got a frame freed earlier in the run. */
  reuses = 0;
  /** Sum of free → reallocation times, ns. */
  reuseNs = 0;
  /** True when bad pages had leaked every frame and the run was stopped. */
  exhausted = false;
  readonly #mm: Mm;
  readonly #env: Engine;
  readonly #hog: number[] = [];
  readonly #freedAt: Float64Array;
  readonly #freed = new WaitQueue("a frame is freed");
  #relieved = 0;

  /** Take every free frame of `mm` but `keep`. */
  constructor(mm: Mm, keep: number) {
    this.#mm = mm;
    this.#env = mm.env;
    while (mm.zone.nrFreePages > keep) {
      const f = folioAlloc(mm, 0);
      if (f < 0) break;
      this.#hog.push(f);
    }
    this.#freedAt = new Float64Array(mm.mem.nrFrames).fill(-1);
    mm.onFree.push((pfn) => {
      this.frees++;
      this.#freedAt[pfn] = this.#env.nowNs;
      this.#freed.wakeUp(0);
    });
  }

  /** Mean free → reallocation time, ns (0 if nothing was reused). */
  get meanReuseNs(): number {
    return this.reuses > 0 ? this.reuseNs / this.reuses : 0;
  }

  /** Frames freed per ms of simulated time, over a run that lasted `nowNs`. */
  freesPerMs(nowNs: number): number {
    return this.frees / Math.max(1e-9, nowNs / 1e6);
  }

  /**
   * Allocate an order-0 frame, sleeping until one is freed; a frame leaked by a bad page is
   * made up from the held-back ones. Use with `yield*`.
   */
  *alloc(): Process<number> {
    const mm = this.#mm, env = this.#env;
    for (;;) {
      const f = folioAlloc(mm, 0);
      if (f >= 0) {
        const at = this.#freedAt[f]!;
        if (at >= 0) {
          this.reuses++;
          this.reuseNs += env.nowNs - at;
        }
        return f;
      }
      const leaked = env.violations.filter((v) => v.name === "bad_page").length;
      if (leaked > this.#relieved) {
        if (this.#hog.length === 0) {
          this.exhausted = true;
          env.stop();
          yield env.hang("every frame leaked by bad pages");
        }
        this.#relieved++;
        folioPut(mm, this.#hog.pop()!);
        continue;
      }
      yield* waitEvent(env, this.#freed, () => mm.zone.nrFreePages > 0);
    }
  }
}

/**
 * Take every free frame of `mm` (the small worlds' allocator pressure: the next frame freed is
 * the next one handed out). Returns a process that waits until a frame is free and allocates
 * it; use with `yield*`.
 */
export function takeEveryFrame(mm: Mm): () => Process<number> {
  while (folioAlloc(mm, 0) >= 0) { /* allocator pressure: keep every other frame */ }
  const freed = new WaitQueue("a frame is freed");
  mm.onFree.push(() => freed.wakeUp(0));
  return function* () {
    yield* waitEvent(mm.env, freed, () => mm.zone.nrFreePages > 0);
    return folioAlloc(mm, 0);
  };
}

/**
 * Lock `folio` (just allocated: the caller holds its only reference) and add it to `mapping`
 * at `index`. If the index is taken, unlock it, drop the caller's reference and return false.
 */
export function addLockedFolio(
  mm: Mm,
  mapping: AddressSpace,
  folio: number,
  index: number,
): boolean {
  folioTrylock(mm, folio);
  if (filemapAddFolio(mm, mapping, folio, index).ok) return true;
  folioUnlock(mm, folio);
  folioPut(mm, folio);
  return false;
}

/**
 * Read pages `0 … n-1` of `file` into the page cache via `fs` (the folios stay locked until the
 * read ends; readahead holds no reference, only the lock). Returns the folios.
 */
export function readIn(mm: Mm, fs: Netfs, file: AddressSpace, n: number): number[] {
  const folios: number[] = [];
  for (let i = 0; i < n; i++) {
    const f = folioAlloc(mm, 0);
    if (!addLockedFolio(mm, file, f, i)) {
      throw new Error(`readIn: cannot add a folio at index ${i} of ${file.name}`);
    }
    folioPut(mm, f);
    folios.push(f);
  }
  fs.submitRead(file, folios);
  return folios;
}

/**
 * Take a reference on the folio cached in `mapping` at `index`, lock it, run `body` if it is
 * still in `mapping`, unlock it and drop the reference. Nothing if no folio is cached there or
 * it is being freed.
 */
export function* lockCachedFolio(
  mm: Mm,
  mapping: AddressSpace,
  index: number,
  body: (folio: number) => Process<unknown>,
): Process<void> {
  const f = filemapGetEntry(mapping, index);
  if (f < 0 || !folioTryGet(mm, f)) return;
  yield* folioLock(mm, f);
  if (mm.mem.mapping[f] === mapping.id) yield* body(f);
  folioUnlock(mm, f);
  folioPut(mm, f);
}

/**
 * Lock the folio now cached at `index` of `file` and, if it is uptodate, write it to the cache
 * (waiting for a write in flight first).
 */
export function writeIndexToCache(
  mm: Mm,
  fs: Netfs,
  file: AddressSpace,
  index: number,
): Process<void> {
  return lockCachedFolio(mm, file, index, function* (f) {
    if (mm.mem.testFlag(f, PG.uptodate)) yield* fs.writeToCache(file, f);
  });
}

/** An exponential think time of mean `meanNs`, rounded, at least 1 ns. */
export function thinkNs(rng: { exponential(mean: number): number }, meanNs: number): number {
  return Math.max(1, Math.round(rng.exponential(meanNs)));
}

/**
 * Spawn a task that forever sleeps an exponential think time of mean `meanNs` (its own random
 * stream) and runs `body`; with `startNs`, it first sleeps that long.
 */
export function spawnEvery(
  env: Engine,
  name: string,
  meanNs: number,
  body: () => Process<unknown>,
  startNs?: number,
): void {
  env.spawn(name, function* (e, self) {
    if (startNs !== undefined) yield e.sleep(startNs);
    for (;;) {
      yield e.sleep(thinkNs(self.rng, meanNs));
      yield* body();
    }
  });
}

/**
 * Run a stress world until `done()` reaches `completions` (violations do not stop it), with a
 * step bound of 400 steps per completion plus 10⁶.
 */
export function runToCompletions(env: Engine, completions: number, done: () => number): RunResult {
  env.onStep(() => {
    if (done() >= completions) env.stop();
  });
  return env.run({ stopOnViolation: false, maxSteps: 400 * completions + 1_000_000 });
}

/** 10^from … 10^to, half a decade apart (quick: a decade apart), rounded. */
export function logSweep(from: number, to: number, quick: boolean): number[] {
  const out: number[] = [];
  const step = quick ? 1 : 0.5;
  for (let e = from; e <= to + 1e-9; e += step) out.push(Math.round(10 ** e));
  return out;
}

/** `run(a, b)` for every `a` of `outer` × `b` of `inner`, in that order. */
export function grid<A, B, R>(
  outer: readonly A[],
  inner: readonly B[],
  run: (a: A, b: B) => R,
): R[] {
  const out: R[] = [];
  for (const a of outer) for (const b of inner) out.push(run(a, b));
  return out;
}
