/**
 * The real-kernel cross-check as the notebooks show it: what `deno task crosscheck` observed on
 * Debian's kernels under QEMU (recorded here with its date and kernel packages), next to the
 * model's prediction for the same setup and kernel era, computed now by the thread scenarios.
 *
 * Only what each claim is about is compared: which /proc/meminfo counter holds FUSE writeback
 * pages (thread 001), whether a page whose FUSE READ hangs ever moves under compact_memory
 * (thread 000), and the folio sizes after splitting a 2 MiB tmpfs folio at page 5 (thread 004).
 * Rerun `deno task crosscheck` to observe again (out/crosscheck.md); the recorded values below
 * are data, not model output, and nothing here feeds them into a prediction.
 *
 * @module
 */

import { predictFuseWritebackCounters } from "./thread001_hung.ts";
import { predictHungReadCompaction } from "./thread000_crosscheck.ts";
import { predictSplitFolioSizes } from "./thread004_split.ts";
import { type Table, table } from "../plot/table.ts";

/**
 * The experiments of the cross-check.
 *
 * @example
 * ```ts
 * import { type CrosscheckExperiment, RECORDED_OBSERVATIONS } from "@mmsim/mmsim";
 * const seen = new Set<CrosscheckExperiment>(RECORDED_OBSERVATIONS.map((o) => o.experiment));
 * if (!seen.has("split-at-page") || seen.size !== 3) throw new Error([...seen].join());
 * ```
 */
export type CrosscheckExperiment = "fuse-writeback" | "hung-read-compaction" | "split-at-page";

/**
 * One recorded real-kernel observation.
 *
 * @example
 * ```ts
 * import { RECORDED_OBSERVATIONS, type RecordedObservation } from "@mmsim/mmsim";
 * const newest: RecordedObservation = RECORDED_OBSERVATIONS.find((o) =>
 *   o.experiment === "fuse-writeback" && o.series === "7.x"
 * )!;
 * // Without temp pages (v6.16+), FUSE writeback pages are counted in Writeback.
 * if (newest.observed !== "Writeback" || !newest.summary.includes("WritebackTmp 0 kB")) {
 *   throw new Error(newest.summary);
 * }
 * ```
 */
export interface RecordedObservation {
  /** The experiment. */
  experiment: CrosscheckExperiment;
  /** Kernel series booted. */
  series: "6.1" | "6.12" | "7.x";
  /** Debian kernel release booted. */
  release: string;
  /** "major.minor": the era the model simulates for it. */
  kernelVersion: string;
  /** What the claim is about, as observed. */
  observed: string;
  /** The driver's summary line. */
  summary: string;
}

/**
 * When and how the recorded observations were taken.
 *
 * @example
 * ```ts
 * import { CROSSCHECK_RECORDED_ON, crosscheckTable } from "@mmsim/mmsim";
 * if (CROSSCHECK_RECORDED_ON.command !== "deno task crosscheck") throw new Error("how to rerun");
 * if (!crosscheckTable("split-at-page").text.includes(CROSSCHECK_RECORDED_ON.date)) {
 *   throw new Error("the table names the date of the observations");
 * }
 * ```
 */
export const CROSSCHECK_RECORDED_ON = {
  date: "2026-11-26",
  command: "deno task crosscheck",
  qemu: "qemu-system-x86_64 7.2 -accel tcg,thread=single -m 512 -smp 1",
} as const;

/**
 * The observations of `deno task crosscheck` on 2026-11-26 (Debian packages
 * linux-image-6.1.0-56-amd64 6.1.192-2, linux-image-6.12.117+deb12-amd64 6.12.117-1~deb12u1,
 * linux-binary-7.3.4+deb13-amd64 7.3.4-1~bpo13+1).
 *
 * @example
 * ```ts
 * import { RECORDED_OBSERVATIONS } from "@mmsim/mmsim";
 * const split = RECORDED_OBSERVATIONS.filter((o) => o.experiment === "split-at-page");
 * // Three kernels per experiment; only 7.x splits non-uniformly (folio_split).
 * if (split.map((o) => o.observed.startsWith("512×1")).join() !== "true,true,false") {
 *   throw new Error(split.map((o) => o.observed).join(" | "));
 * }
 * ```
 */
export const RECORDED_OBSERVATIONS: readonly RecordedObservation[] = [
  {
    experiment: "fuse-writeback",
    series: "6.1",
    release: "6.1.0-56-amd64",
    kernelVersion: "6.1",
    observed: "WritebackTmp",
    summary: "4 MiB written, replies delayed 5 s: Writeback 0 kB, WritebackTmp 3968 kB",
  },
  {
    experiment: "fuse-writeback",
    series: "6.12",
    release: "6.12.117+deb12-amd64",
    kernelVersion: "6.12",
    observed: "WritebackTmp",
    summary: "4 MiB written, replies delayed 5 s: Writeback 0 kB, WritebackTmp 3968 kB",
  },
  {
    experiment: "fuse-writeback",
    series: "7.x",
    release: "7.3.4+deb13-amd64",
    kernelVersion: "7.3",
    observed: "Writeback",
    summary: "4 MiB written, replies delayed 5 s: Writeback 3456 kB, WritebackTmp 0 kB",
  },
  {
    experiment: "hung-read-compaction",
    series: "6.1",
    release: "6.1.0-56-amd64",
    kernelVersion: "6.1",
    observed: "no hung page moved; compaction blocks",
    summary: "32 hung frames, same frames after compaction; blocked in folio_wait_bit_common",
  },
  {
    experiment: "hung-read-compaction",
    series: "6.12",
    release: "6.12.117+deb12-amd64",
    kernelVersion: "6.12",
    observed: "no hung page moved; compaction blocks",
    summary: "32 hung frames, same frames after compaction; blocked in folio_wait_bit_common",
  },
  {
    experiment: "hung-read-compaction",
    series: "7.x",
    release: "7.3.4+deb13-amd64",
    kernelVersion: "7.3",
    observed: "no hung page moved; compaction blocks",
    summary: "64 hung frames, same frames after compaction; blocked in folio_wait_bit_common",
  },
  {
    experiment: "split-at-page",
    series: "6.1",
    release: "6.1.0-56-amd64",
    kernelVersion: "6.1",
    observed: "512×1",
    summary: 'split_huge_pages "path,0x0,0x200": 512 single pages',
  },
  {
    experiment: "split-at-page",
    series: "6.12",
    release: "6.12.117+deb12-amd64",
    kernelVersion: "6.12",
    observed: "512×1",
    summary: 'split_huge_pages "path,0x0,0x200,0": 512 single pages',
  },
  {
    experiment: "split-at-page",
    series: "7.x",
    release: "7.3.4+deb13-amd64",
    kernelVersion: "7.3",
    observed: "4,1,1,2,8,16,32,64,128,256",
    summary: 'split_huge_pages "path,0x0,0x200,0,5": 10 folios',
  },
];

/**
 * One row of the comparison.
 *
 * @example
 * ```ts
 * import { type CrosscheckRow, crosscheckRows } from "@mmsim/mmsim";
 * const row: CrosscheckRow = crosscheckRows("hung-read-compaction")[0]!;
 * if (row.agree !== (row.model === row.observed) || !row.kernel.startsWith("6.1 ")) {
 *   throw new Error(JSON.stringify(row));
 * }
 * ```
 */
export interface CrosscheckRow {
  /** The experiment. */
  experiment: CrosscheckExperiment;
  /** Kernel series and release. */
  kernel: string;
  /** The model's prediction, computed now. */
  model: string;
  /** The recorded real observation. */
  observed: string;
  /** Whether they agree. */
  agree: boolean;
}

function sizesText(sizes: readonly number[]): string {
  return sizes.every((s) => s === 1) ? `${sizes.length}×1` : sizes.join(",");
}

/**
 * The model's prediction for one experiment and kernel version, in the compared form.
 *
 * @example
 * ```ts
 * import { crosscheckPrediction } from "@mmsim/mmsim";
 * // Splitting a 2 MiB folio at page 5: uniform before folio_split (v6.15), buddy-like after.
 * if (crosscheckPrediction("split-at-page", "6.12") !== "512×1") throw new Error("uniform");
 * const sizes = crosscheckPrediction("split-at-page", "7.3").split(",").map(Number);
 * if (sizes.length !== 10 || sizes.reduce((a, b) => a + b, 0) !== 512) throw new Error(`${sizes}`);
 * ```
 */
export function crosscheckPrediction(experiment: CrosscheckExperiment, version: string): string {
  switch (experiment) {
    case "fuse-writeback": {
      const p = predictFuseWritebackCounters(version);
      return p.holder;
    }
    case "hung-read-compaction": {
      const p = predictHungReadCompaction(version);
      return `${p.hungPageMoved ? "a hung page moved" : "no hung page moved"}; ` +
        `compaction ${p.compactionBlocked ? "blocks" : "does not block"}`;
    }
    case "split-at-page":
      return sizesText(predictSplitFolioSizes(version));
  }
}

/**
 * Compare the model's predictions (computed now) with the recorded real observations.
 *
 * @example
 * ```ts
 * import { crosscheckRows } from "@mmsim/mmsim";
 * const rows = crosscheckRows("split-at-page");
 * if (rows.length !== 3 || !rows.every((r) => r.agree)) throw new Error(JSON.stringify(rows));
 * ```
 */
export function crosscheckRows(experiment?: CrosscheckExperiment): CrosscheckRow[] {
  return RECORDED_OBSERVATIONS.filter((o) => !experiment || o.experiment === experiment).map(
    (o) => {
      const model = crosscheckPrediction(o.experiment, o.kernelVersion);
      return {
        experiment: o.experiment,
        kernel: `${o.series} (${o.release})`,
        model,
        observed: o.observed,
        agree: model === o.observed,
      };
    },
  );
}

/**
 * The comparison as a table for notebooks.
 *
 * @example
 * ```ts
 * import { crosscheckTable } from "@mmsim/mmsim";
 * if (!crosscheckTable("fuse-writeback").text.includes("WritebackTmp")) throw new Error("table");
 * ```
 */
export function crosscheckTable(experiment?: CrosscheckExperiment): Table {
  return table(crosscheckRows(experiment), {
    title: `Model vs real kernels (observed ${CROSSCHECK_RECORDED_ON.date} by ` +
      `\`${CROSSCHECK_RECORDED_ON.command}\` under QEMU)`,
  });
}
