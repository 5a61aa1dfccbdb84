/**
 * Shared types of the real-kernel cross-check: the kernel series booted, the three experiments,
 * what each experiment's claim is about (its outcome), and the observations file
 * `out/crosscheck/observations.json` that `crosscheck/run.ts` writes.
 *
 * @module
 */

/** The kernel series booted; "7.x" is the newest 7.* kernel in the trixie-backports suite. */
export type SeriesId = "6.1" | "6.12" | "7.x";

/** All series, in boot order. */
export const SERIES: readonly SeriesId[] = ["6.1", "6.12", "7.x"];

/**
 * The experiments (names of the guest driver's subcommands in brackets):
 * - `fuse-writeback` [writeback] (thread 001): 4 MiB written through the page cache of a FUSE
 *   file with the writeback cache, WRITE replies delayed 5 s, the FUSE bdi's max_ratio at 100;
 *   which /proc/meminfo counter holds the pages while the replies are delayed.
 * - `hung-read-compaction` [hungread] (thread 000): a FUSE file whose READs hang; readahead
 *   leaves locked, not-uptodate page-cache pages; `compact_memory` (MIGRATE_SYNC) runs; does any
 *   hung page move, and does compaction block.
 * - `split-at-page` [split] (thread 004): a 2 MiB tmpfs THP split at page 5 through debugfs
 *   `split_huge_pages`; the resulting folio sizes.
 */
export type ExperimentId = "fuse-writeback" | "hung-read-compaction" | "split-at-page";

/** All experiments, in run order. */
export const EXPERIMENTS: readonly ExperimentId[] = [
  "fuse-writeback",
  "hung-read-compaction",
  "split-at-page",
];

/** The guest driver's subcommand (the `MMSIM_TEST=` word on the kernel command line). */
export const DRIVER_TEST: Readonly<Record<ExperimentId, string>> = {
  "fuse-writeback": "writeback",
  "hung-read-compaction": "hungread",
  "split-at-page": "split",
};

/** Which meminfo counter held the pages under writeback (NR_WRITEBACK vs NR_WRITEBACK_TEMP). */
export type WritebackHolder = "Writeback" | "WritebackTmp" | "both" | "neither";

/** Outcome of `fuse-writeback`. The claim compared is `holder`. */
export interface WritebackOutcome {
  /** The counter holding at least a quarter of the bytes written while replies are delayed. */
  holder: WritebackHolder;
}

/** Outcome of `hung-read-compaction`. The claim compared is `hungPageMoved`. */
export interface HungReadOutcome {
  /** Some page that was locked and not uptodate changed frame while its READ hung. */
  hungPageMoved: boolean;
  /**
   * compact_memory had not returned after 8 s while the READs hung (it sleeps on the folio
   * lock in MIGRATE_SYNC). Compared only when the prediction gives it and the real compaction
   * blocked or its migrate scanner got past the hung pages.
   */
  compactionBlocked?: boolean;
}

/** Outcome of `split-at-page`. The claim compared is `folioSizes`. */
export interface SplitOutcome {
  /** Sizes in pages of the folios covering the 512 pages, in file order. */
  folioSizes: number[];
}

/** Outcome type per experiment. */
export interface OutcomeOf {
  /** See {@link WritebackOutcome}. */
  "fuse-writeback": WritebackOutcome;
  /** See {@link HungReadOutcome}. */
  "hung-read-compaction": HungReadOutcome;
  /** See {@link SplitOutcome}. */
  "split-at-page": SplitOutcome;
}

/** A kernel picked for a series, or why none could be. */
export type KernelInfo =
  | {
    series: SeriesId;
    status: "ok";
    /** Debian package holding the image (and the packages unpacked with it). */
    packages: string[];
    /** Debian version of the image package. */
    version: string;
    /** `uname -r` of the kernel (its modules directory name). */
    release: string;
    /** "major.minor" of the upstream version, e.g. "7.3". */
    kernelVersion: string;
    /** CONFIG_FUSE_FS: built in or a module carried in the initramfs. */
    fuse: "y" | "m" | "unknown";
    /** Modules put in the initramfs, in load order. */
    modules: string[];
    /** The download was reused from an earlier run. */
    cached: boolean;
  }
  | { series: SeriesId; status: "unavailable"; reason: string };

/** One experiment on one kernel. */
export interface Observation {
  /** Which experiment. */
  experiment: ExperimentId;
  /** Which series. */
  series: SeriesId;
  /** `uname -r` reported by the guest. */
  release: string;
  /** "major.minor" of the kernel. */
  kernelVersion: string;
  /** "ok" when the driver printed a usable result. */
  status: "ok" | "error";
  /** Boots used (2 when the first one panicked or gave no result). */
  attempts: number;
  /** The outcome the claim is about (absent on error). */
  outcome?: WritebackOutcome | HungReadOutcome | SplitOutcome;
  /** One-line summary of the evidence, for the table's note column. */
  summary: string;
  /** Why the observation failed, or a caveat (e.g. compaction never reached the hung pages). */
  note?: string;
  /** The driver's result line, as printed in the guest. */
  details?: Record<string, unknown>;
  /** Wall-clock seconds of the (last) boot. */
  bootSeconds: number;
  /** Console log of the last boot, relative to the checkout. */
  log: string;
}

/** Seconds spent per phase of a run. */
export interface PhaseTimings {
  /** apt-get update + install of the host packages. */
  install: number;
  /** Resolving, downloading and unpacking the kernels. */
  fetch: number;
  /** Compiling the FUSE server and driver, building the initramfs images. */
  build: number;
  /** All guest boots. */
  boot: number;
  /** Whole run. */
  total: number;
}

/** Contents of `out/crosscheck/observations.json`. */
export interface ObservationsFile {
  /** Format version. */
  schema: 1;
  /** The QEMU binary's `--version` first line. */
  qemu: string;
  /** QEMU options common to all boots. */
  qemuArgs: string[];
  /** Time per phase. */
  timings: PhaseTimings;
  /** One entry per series, available or not. */
  kernels: KernelInfo[];
  /** One entry per experiment per available kernel. */
  observations: Observation[];
}
