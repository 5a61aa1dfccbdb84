/**
 * The model's predictions for the cross-check experiments: the hook where the simulation
 * plugs in.
 *
 * {@link modelPredictions} runs the thread scenarios. The predictions must be computed by the simulation for the same setup
 * ({@link EXPERIMENT_SETUPS}) and the kernel era of each booted kernel
 * (`kernelEra(kernel.kernelVersion)` from lib/mm/era.ts); never copy the observed answers here.
 *
 * What each experiment needs from the model (the compared fields are in bold):
 * - `fuse-writeback` (thread 001, FUSE writeback scenario; 2013-era temp-page design while
 *   `KernelEra.fuseTempPages`, the 2025-era design without temp pages after 0c58a97f919c):
 *   **`holder`**, which of NR_WRITEBACK ("Writeback") and NR_WRITEBACK_TEMP ("WritebackTmp")
 *   holds at least a quarter of the 4 MiB while the 5 s WRITE replies are outstanding.
 * - `hung-read-compaction` (thread 000, hung-read compaction scenario, server latency ∞,
 *   compaction in MIGRATE_SYNC as /proc/sys/vm/compact_memory runs it): **`hungPageMoved`**,
 *   whether any locked, not-uptodate readahead folio changed frame; optionally
 *   `compactionBlocked` (compaction sleeps on the folio lock), compared only when the real
 *   compaction blocked or its migrate scanner got past the hung pages.
 * - `split-at-page` (thread 004, split of an order-9 shmem folio at page 5 to order 0;
 *   uniform split_folio before `KernelEra.nonUniformSplit`, folio_split after):
 *   **`folioSizes`**, the folio sizes in pages in file order, e.g. 512 ones, or
 *   [4, 1, 1, 2, 8, 16, 32, 64, 128, 256].
 *
 * @module
 */

import type { ExperimentId, OutcomeOf, SeriesId, WritebackHolder } from "./types.ts";

/** One prediction: computed by the model, or not yet available. */
export type Prediction<O> =
  | {
    status: "predicted";
    /** The predicted outcome (only the claim's fields are compared). */
    outcome: O;
    /** Where it came from, e.g. "claims/thread001.ts fuseWritebackScenario, era 6.12". */
    source: string;
  }
  | { status: "pending"; reason: string };

/** Predictions per experiment and kernel series. A missing entry counts as pending. */
export type PredictionMap = {
  [E in ExperimentId]?: Partial<Record<SeriesId, Prediction<OutcomeOf[E]>>>;
};

/** A kernel the predictions are asked for. */
export interface PredictionKernel {
  /** The series. */
  series: SeriesId;
  /** "major.minor" of the booted kernel, e.g. "6.1", "6.12", "7.3": the era to simulate. */
  kernelVersion: string;
}

/** The setup of each experiment, as run in the guest; the simulation must model the same. */
export const EXPERIMENT_SETUPS: Readonly<Record<ExperimentId, string>> = {
  "fuse-writeback": "One FUSE file with the writeback cache (FUSE_CAP_WRITEBACK_CACHE); the FUSE " +
    "bdi's max_ratio raised from 1 to 100 (strictlimit stays on); 4 MiB written with write(2) " +
    "in 1 MiB pieces; writeback started with sync_file_range(SYNC_FILE_RANGE_WRITE); every " +
    "WRITE reply held 5 s by the server (up to 64 server threads); /proc/meminfo sampled every " +
    "100 ms for 4 s.",
  "hung-read-compaction": "One FUSE file whose READ replies are held until released; a 256 KiB " +
    "read(2) at offset 0 starts readahead, leaving the readahead window's pages locked and not " +
    "uptodate on the LRU; vm.percpu_pagelist_high_fraction set huge (so freed pages reach the " +
    "buddy lists), free memory filled with anonymous pages, all released below the lowest " +
    "hung frame and every other one above (so the migrate scanner reaches them); then " +
    "`echo 1 > /proc/sys/vm/compact_memory` (compact_node, MIGRATE_SYNC) in a child; 8 s later " +
    "the frames are compared (kpageflags scan), then the READs are released.",
  "split-at-page": "A 2 MiB file on tmpfs mounted huge=always, written with write(2) (one " +
    "order-9 folio); `<path>,0x0,0x200[,0[,5]]` written to /sys/kernel/debug/split_huge_pages " +
    "(new_order 0 from v6.10, in_folio_offset 5 from v6.15); folio sizes read back through " +
    "/proc/self/pagemap and /proc/kpageflags head/tail bits.",
};

/** Every prediction "pending" (what {@link modelPredictions} returns until the model is in). */
export function pendingPredictions(
  kernels: readonly PredictionKernel[],
  reason = "model scenario not plugged in yet (crosscheck/predictions.ts TODO)",
): PredictionMap {
  const map: PredictionMap = {};
  for (const k of kernels) {
    (map["fuse-writeback"] ??= {})[k.series] = { status: "pending", reason };
    (map["hung-read-compaction"] ??= {})[k.series] = { status: "pending", reason };
    (map["split-at-page"] ??= {})[k.series] = { status: "pending", reason };
  }
  return map;
}

/** Which counter holds at least a quarter of `total` bytes (the compared `holder`). */
export function holderOf(tmpBytes: number, wbBytes: number, total: number): WritebackHolder {
  const q = total / 4;
  if (tmpBytes >= q && wbBytes >= q) return "both";
  if (tmpBytes >= q) return "WritebackTmp";
  if (wbBytes >= q) return "Writeback";
  return "neither";
}

/**
 * The model's predictions for the booted kernels: each computed by running the thread's
 * scenario with the kernel era of the booted version (`kernelEra(kernel.kernelVersion)`), for
 * the setup in {@link EXPERIMENT_SETUPS}. Needs no Deno permissions.
 *
 * - `fuse-writeback`: thread 001's `predictFuseWritebackCounters(version)` (4 MiB written,
 *   WRITE replies delayed 5 s, counters sampled while the replies are outstanding).
 * - `split-at-page`: thread 004's `predictSplitFolioSizes(version)` (an order-9 tmpfs folio
 *   split to order 0 isolating page 5; folio sizes in file order).
 * - `hung-read-compaction`: thread 000's `predictHungReadCompaction(version)` (a FUSE file
 *   whose READs never complete, then compact_memory = compact_node in MIGRATE_SYNC).
 */
export async function modelPredictions(
  kernels: readonly PredictionKernel[],
): Promise<PredictionMap> {
  const map = pendingPredictions(kernels, "no scenario for this experiment");
  const t001 = await import("../lib/claims/thread001_hung.ts");
  const t004 = await import("../lib/claims/thread004_split.ts");
  // deno-lint-ignore no-explicit-any
  const t000: any = await import("../lib/claims/thread000_crosscheck.ts").catch(() => null);
  for (const k of kernels) {
    const total = 4 << 20;
    const w = t001.predictFuseWritebackCounters(k.kernelVersion, { bytes: total });
    map["fuse-writeback"]![k.series] = {
      status: "predicted",
      outcome: { holder: holderOf(w.writebackTmpBytes, w.writebackBytes, total) },
      source: `lib/claims/thread001_hung.ts predictFuseWritebackCounters("${k.kernelVersion}")` +
        ` (${w.design}: WritebackTmp ${w.writebackTmpBytes} B, Writeback ${w.writebackBytes} B)`,
    };
    const sizes = t004.predictSplitFolioSizes(k.kernelVersion);
    map["split-at-page"]![k.series] = {
      status: "predicted",
      outcome: { folioSizes: sizes },
      source: `lib/claims/thread004_split.ts predictSplitFolioSizes("${k.kernelVersion}")`,
    };
    if (t000?.predictHungReadCompaction) {
      const h = t000.predictHungReadCompaction(k.kernelVersion);
      map["hung-read-compaction"]![k.series] = {
        status: "predicted",
        outcome: { hungPageMoved: h.hungPageMoved, compactionBlocked: h.compactionBlocked },
        source:
          `lib/claims/thread000_crosscheck.ts predictHungReadCompaction("${k.kernelVersion}")`,
      };
    }
  }
  return map;
}
