/**
 * Thread 002, claim C2.4: direct I/O against a page the device uses. Jan Kara: "even direct IO
 * works with this since the page cache invalidation pass we do before actually doing the
 * direct IO will make sure to pull all the pages from the device and write them to disk".
 *
 * - {@link dioSequence}: one task — the device stores, then a direct read; a direct write, then
 *   a device load and a read(2). Under each protocol variant: does the direct read return the
 *   device's data, and do the device and the CPU see the direct write?
 * - {@link exploreDioInvalidation}: device threads keep storing (each store in flight for a
 *   while, pinning the device page) while a direct write runs; counts how often the
 *   invalidation had to take the page back from the device first (fallback) or could not
 *   (the device page was pinned: -EBUSY, and the write fell back to buffered I/O).
 *
 * Not a kernel model itself; it composes lib/mm/direct_io.ts (iomap_dio_rw with
 * kiocb_invalidate_pages) and lib/dev.
 *
 * @module
 */

import { Engine, type Task } from "../sim/engine.ts";
import { explore, randomSearch } from "../sim/explore.ts";
import { userStore } from "../mm/mmap.ts";
import { deviceLoad, deviceStore } from "../dev/hmm.ts";
import type { HmmStrategy } from "../dev/hmm_file.ts";
import { buildHmmWorld, type HmmVariant } from "./thread002_world.ts";

/**
 * What {@link dioSequence} saw.
 *
 * @example
 * ```ts
 * import { dioSequence, type DioSequenceResult } from "@mmsim/mmsim";
 * const r: DioSequenceResult = dioSequence("migrate", "full");
 * // The direct read flushed the device's data first; the direct write reached both sides.
 * if (r.dioReadTag !== r.deviceTag || !r.dioReadFresh) throw new Error(JSON.stringify(r));
 * if (r.deviceLoadTag !== r.dioWriteTag || r.cpuReadTag !== r.dioWriteTag || r.fellBack) {
 *   throw new Error(JSON.stringify(r));
 * }
 * ```
 */
export interface DioSequenceResult {
  /** Strategy and variant run. */
  strategy: HmmStrategy;
  /** Protocol variant. */
  variant: HmmVariant;
  /** Tag the device stored, and the tag the direct read returned. */
  deviceTag: number;
  /** Tag the direct read returned. */
  dioReadTag: number;
  /** The direct read returned the device's data. */
  dioReadFresh: boolean;
  /** Tag the direct write wrote. */
  dioWriteTag: number;
  /** Tag a device load returned after the direct write. */
  deviceLoadTag: number;
  /** Tag a read(2) returned after the direct write. */
  cpuReadTag: number;
  /** Both saw the direct write. */
  dioWriteSeen: boolean;
  /** The direct write fell back to buffered I/O. */
  fellBack: boolean;
}

/**
 * The sequential direct-I/O check of C2.4 for one strategy and variant (see the module doc).
 *
 * @example
 * ```ts
 * import { dioSequence } from "@mmsim/mmsim";
 * const full = dioSequence("copy", "full");
 * if (!full.dioReadFresh || !full.dioWriteSeen) throw new Error("Jan: DIO works");
 * if (dioSequence("copy", "no writeback hook").dioReadFresh) throw new Error("stale without the hook");
 * ```
 */
export function dioSequence(strategy: HmmStrategy, variant: HmmVariant): DioSequenceResult {
  const env = new Engine({ seed: 1 });
  const w = buildHmmWorld(env, { strategy, variant });
  const { mm, hf, buf } = w;
  const out: DioSequenceResult = {
    strategy,
    variant,
    deviceTag: 0,
    dioReadTag: 0,
    dioReadFresh: false,
    dioWriteTag: 0,
    deviceLoadTag: 0,
    cpuReadTag: 0,
    dioWriteSeen: false,
    fellBack: false,
  };
  env.spawn("sequence", function* () {
    out.deviceTag = ++mm.contentTag;
    yield* deviceStore(hf.dev, hf.mapping, 0, out.deviceTag);
    const rd = yield* hf.directIo("READ", 0, buf, 0);
    out.dioReadTag = rd.ok ? rd.value.tag : -1;
    out.dioWriteTag = ++mm.contentTag;
    yield* userStore(mm, buf, 0, out.dioWriteTag);
    const wr = yield* hf.directIo("WRITE", 0, buf, 0);
    out.fellBack = wr.ok && wr.value.fellBack;
    const dl = yield* deviceLoad(hf.dev, hf.mapping, 0);
    out.deviceLoadTag = dl.ok ? dl.value : -1;
    const cr = yield* hf.read(0);
    out.cpuReadTag = cr.ok ? cr.value : -1;
  });
  const r = env.run();
  if (r.reason !== "done") throw new Error(`dioSequence(${strategy}, ${variant}): ${r.reason}`);
  out.dioReadFresh = out.dioReadTag === out.deviceTag;
  out.dioWriteSeen = out.deviceLoadTag === out.dioWriteTag && out.cpuReadTag === out.dioWriteTag;
  return out;
}

/**
 * Counts of {@link exploreDioInvalidation}.
 *
 * @example
 * ```ts
 * import { type DioInvalidationCounts, exploreDioInvalidation } from "@mmsim/mmsim";
 * const c: DioInvalidationCounts = exploreDioInvalidation("migrate", { seed: 1, executions: 4 });
 * if (c.strategy !== "migrate" || c.executions !== 4 || c.dioWrites !== 4) throw new Error();
 * if (c.executionsWithFailure > c.executions || c.executionsWithFailure > c.failures) {
 *   throw new Error(JSON.stringify(c));
 * }
 * ```
 */
export interface DioInvalidationCounts {
  /** Strategy explored. */
  strategy: HmmStrategy;
  /** Executions. */
  executions: number;
  /** Direct writes issued (one per execution). */
  dioWrites: number;
  /**
   * The direct write's page-cache pass had to take the page back from the device first
   * (migrated or copied back, in the flush or in `->launder_folio`).
   */
  fallbacks: number;
  /** Invalidations refused because the device page was pinned or owned. */
  failures: number;
  /** Direct writes that fell back to buffered I/O. */
  dioFallbacks: number;
  /** Executions with at least one failure. */
  executionsWithFailure: number;
}

/**
 * Device threads store to the page (each store pinned for `accessNs`) while a direct write
 * runs, under `executions` random schedules; counts invalidation fallbacks and failures.
 *
 * @example
 * ```ts
 * import { exploreDioInvalidation } from "@mmsim/mmsim";
 * const c = exploreDioInvalidation("copy", { seed: 1, executions: 5 });
 * if (c.failures !== 0 || c.dioWrites !== 5) throw new Error("copy never fails invalidation");
 * ```
 */
export function exploreDioInvalidation(
  strategy: HmmStrategy,
  opts: { seed: number; executions: number; deviceThreads?: number; accessNs?: number },
): DioInvalidationCounts {
  const counts: DioInvalidationCounts = {
    strategy,
    executions: 0,
    dioWrites: 0,
    fallbacks: 0,
    failures: 0,
    dioFallbacks: 0,
    executionsWithFailure: 0,
  };
  const threads = opts.deviceThreads ?? 4;
  const accessNs = opts.accessNs ?? 2_000;
  explore((env) => {
    const w = buildHmmWorld(env, { strategy, deviceAccessNs: accessNs });
    const { mm, hf, buf } = w;
    const workers: Task[] = [];
    for (let k = 0; k < threads; k++) {
      workers.push(env.spawn(`gpu-w${k}`, function* (e) {
        for (let j = 0; j < 4; j++) {
          yield e.sleep(e.current!.rng.int(3_000));
          yield* deviceStore(hf.dev, hf.mapping, 0, ++mm.contentTag);
        }
      }));
    }
    env.spawn("dio-write", function* (e) {
      yield e.sleep(1_000 + e.current!.rng.int(6_000));
      yield* userStore(mm, buf, 0, ++mm.contentTag);
      yield* hf.directIo("WRITE", 0, buf, 0);
    });
    return {
      outcome: () => {
        counts.executions++;
        counts.dioWrites++;
        counts.fallbacks += hf.stats.invalidateFallbacks + hf.stats.writebackTakeBacks;
        counts.failures += hf.stats.invalidateFailures;
        counts.dioFallbacks += hf.stats.dioFallbacks;
        if (hf.stats.invalidateFailures > 0) counts.executionsWithFailure++;
        return { "invalidation failed": hf.stats.invalidateFailures > 0 };
      },
    };
  }, {
    seed: opts.seed,
    search: randomSearch({ executions: opts.executions, seed: opts.seed }),
    shrink: false,
    stopOnViolation: false,
  });
  return counts;
}
