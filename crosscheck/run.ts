/**
 * `deno task crosscheck`: boot real Debian kernels (6.1, 6.12, 7.x) under QEMU, run the three
 * experiments of issue 11 in each, write `out/crosscheck/observations.json`, compare with the
 * model's predictions (crosscheck/predictions.ts) into `out/crosscheck.md`, print the table.
 *
 * Phases (each timed): install (apt-get update; install QEMU, busybox-static, libfuse3-dev,
 * fuse3, cpio and a C compiler when missing), fetch (resolve, download and unpack each series'
 * newest kernel, never installing it), build (static FUSE server and driver, busybox initramfs
 * per kernel), boot (one boot per experiment and kernel, two at a time; a boot that panics or
 * gives no result is retried once).
 *
 * Usage: `deno task crosscheck [--series 6.1,6.12,7.x] [--experiments fuse-writeback,…]
 * [--no-install]`. Exit status 1 when a prediction disagrees with an observation or no kernel
 * of any series could be fetched.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { installHostPackages } from "./_apt.ts";
import {
  buildBaseInitramfs,
  buildKernelInitramfs,
  compileGuestPrograms,
  SOURCE_DIR,
} from "./_build.ts";
import { hasTool, secondsSince } from "./_exec.ts";
import { aptOptionsFor, type FetchedKernel, fetchKernel } from "./_kernel.ts";
import { boot, QEMU_ARGS, qemuVersion } from "./_qemu.ts";
import { compare, type ComparisonRow, formatRows } from "./compare.ts";
import { interpret } from "./observe.ts";
import { modelPredictions, type PredictionMap } from "./predictions.ts";
import {
  DRIVER_TEST,
  type ExperimentId,
  EXPERIMENTS,
  type KernelInfo,
  type Observation,
  type ObservationsFile,
  SERIES,
  type SeriesId,
} from "./types.ts";

/** The checkout's root directory. */
export const ROOT: string = join(SOURCE_DIR, "..");

/** Options of {@link runCrosscheck}. */
export interface CrosscheckOptions {
  /** Series to boot (default all). */
  series?: readonly SeriesId[];
  /** Experiments to run (default all). */
  experiments?: readonly ExperimentId[];
  /** Skip `apt-get update`/`install` (the packages are known to be there). */
  skipInstall?: boolean;
  /** Output directory (default `out/crosscheck` in the checkout). */
  outDir?: string;
  /** The comparison table (default `out/crosscheck.md` in the checkout). */
  reportPath?: string;
  /** Predictions (default: {@link modelPredictions} for the fetched kernels). */
  predictions?: PredictionMap;
  /** Boots at once (default: the number of CPUs, at most 3). */
  parallel?: number;
  /** Progress lines. */
  log?: (msg: string) => void;
}

/** What {@link runCrosscheck} returns. */
export interface CrosscheckResult {
  /** What was written to observations.json. */
  observations: ObservationsFile;
  /** The comparison rows (also in out/crosscheck.md). */
  rows: ComparisonRow[];
  /** Path of observations.json. */
  observationsPath: string;
}

async function pool<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
}

/** One experiment on one kernel, with one retry for a boot that panicked or gave no result. */
async function observe(
  k: FetchedKernel,
  initrd: string,
  experiment: ExperimentId,
  logDir: string,
  log: (msg: string) => void,
): Promise<Observation> {
  const test = DRIVER_TEST[experiment];
  let last: Observation | undefined;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const logFile = join(logDir, `${k.info.series}-${experiment}-${attempt}.log`);
    const r = await boot({
      kernel: k.vmlinuz,
      initrd,
      cmdline: [`MMSIM_TEST=${test}`],
      log: logFile,
    });
    const bootEv = r.events.find((e) => e.event === "boot");
    const result = r.events.find((e) => e.event === "result" && e.test === test);
    const errors = r.events.filter((e) => e.event === "error").map((e) => String(e.msg));
    const release = typeof bootEv?.release === "string" ? bootEv.release : k.info.release;
    const common = {
      experiment,
      series: k.info.series,
      release,
      kernelVersion: k.info.kernelVersion,
      attempts: attempt,
      bootSeconds: r.seconds,
      log: logFile.startsWith(ROOT) ? logFile.slice(ROOT.length + 1) : logFile,
    };
    if (result) {
      const { outcome, summary, note } = interpret(experiment, result);
      log(`${k.info.series} ${experiment}: ${summary} (${r.seconds} s)`);
      return {
        ...common,
        status: outcome ? "ok" : "error",
        ...(outcome ? { outcome } : {}),
        summary,
        ...(note ? { note } : {}),
        details: result,
      };
    }
    const why = r.panic
      ? "Kernel panic"
      : r.timedOut
      ? "timed out"
      : errors.length > 0
      ? `guest error: ${errors.join("; ")}`
      : `no result (QEMU exit ${r.code})`;
    log(
      `${k.info.series} ${experiment}: attempt ${attempt}: ${why} (${r.seconds} s, ${common.log})`,
    );
    last = { ...common, status: "error", summary: why, note: why };
    // A guest error (no FUSE, unknown test) will not go away on a second boot.
    if (!r.panic && !r.timedOut && errors.length > 0) break;
  }
  return last!;
}

/** Runs the whole cross-check; see the module doc. */
export async function runCrosscheck(opts: CrosscheckOptions = {}): Promise<CrosscheckResult> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const outDir = opts.outDir ?? join(ROOT, "out/crosscheck");
  const series = opts.series ?? SERIES;
  const experiments = opts.experiments ?? EXPERIMENTS;
  const t0 = performance.now();
  await Deno.mkdir(join(outDir, "logs"), { recursive: true });
  // Build outputs stay out of git even without a top-level .gitignore entry.
  await Deno.writeTextFile(join(outDir, ".gitignore"), "*\n");

  // Install.
  let t = performance.now();
  if (!opts.skipInstall) {
    const installed = await installHostPackages(await hasTool("gcc"), log);
    if (installed.length === 0) log("host packages already installed");
  }
  const install = secondsSince(t);

  // Fetch.
  t = performance.now();
  const kernels = new Map<SeriesId, FetchedKernel>();
  const infos: KernelInfo[] = [];
  await Promise.all(series.map(async (s) => {
    try {
      const apt = await aptOptionsFor(s, join(outDir, "apt-private"));
      const k = await fetchKernel(s, join(outDir, "kernels", s), apt, log);
      kernels.set(s, k);
    } catch (e) {
      const reason = e instanceof Error ? e.message.split("\n")[0]! : String(e);
      log(`${s}: unavailable: ${reason}`);
      infos.push({ series: s, status: "unavailable", reason });
    }
  }));
  for (const [, k] of kernels) infos.push(k.info);
  infos.sort((a, b) => SERIES.indexOf(a.series) - SERIES.indexOf(b.series));
  const fetch = secondsSince(t);

  // Build.
  t = performance.now();
  const initrds = new Map<SeriesId, string>();
  if (kernels.size > 0) {
    const buildDir = join(outDir, "build");
    const programs = await compileGuestPrograms(buildDir);
    const base = join(buildDir, "initramfs-base.cpio");
    await buildBaseInitramfs(join(buildDir, "stage-base"), base, programs);
    for (const [s, k] of kernels) {
      const out = join(buildDir, `initramfs-${s}.cpio`);
      await buildKernelInitramfs(base, join(buildDir, `stage-${s}`), k.modulePaths, out);
      initrds.set(s, out);
    }
  }
  const build = secondsSince(t);

  // Boot.
  t = performance.now();
  const jobs = infos.filter((k) => k.status === "ok").flatMap((k) =>
    experiments.map((e) => ({ series: k.series, experiment: e }))
  );
  const observations: Observation[] = [];
  await pool(
    jobs,
    opts.parallel ?? Math.min(3, navigator.hardwareConcurrency || 1),
    async ({ series: s, experiment }) => {
      observations.push(
        await observe(kernels.get(s)!, initrds.get(s)!, experiment, join(outDir, "logs"), log),
      );
    },
  );
  observations.sort((a, b) =>
    SERIES.indexOf(a.series) - SERIES.indexOf(b.series) ||
    EXPERIMENTS.indexOf(a.experiment) - EXPERIMENTS.indexOf(b.experiment)
  );
  const bootTime = secondsSince(t);

  const file: ObservationsFile = {
    schema: 1,
    qemu: await qemuVersion(),
    qemuArgs: [...QEMU_ARGS],
    timings: { install, fetch, build, boot: bootTime, total: secondsSince(t0) },
    kernels: infos,
    observations,
  };
  const observationsPath = join(outDir, "observations.json");
  await Deno.writeTextFile(observationsPath, JSON.stringify(file, null, 2) + "\n");
  const predictions = opts.predictions ??
    await modelPredictions(
      infos.flatMap((k) =>
        k.status === "ok" ? [{ series: k.series, kernelVersion: k.kernelVersion }] : []
      ),
    );
  const rows = await compare(file, predictions, opts.reportPath ?? join(ROOT, "out/crosscheck.md"));
  return { observations: file, rows, observationsPath };
}

function splitList<T extends string>(
  value: string | undefined,
  all: readonly T[],
  what: string,
): T[] | undefined {
  if (!value) return undefined;
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const i of items) {
    if (!all.includes(i as T)) {
      throw new Error(`Unknown ${what} "${i}"; expected one of ${all.join(", ")}`);
    }
  }
  return items as T[];
}

if (import.meta.main) {
  const args = parseArgs({
    args: Deno.args,
    options: {
      series: { type: "string" },
      experiments: { type: "string" },
      "no-install": { type: "boolean" },
    },
  });
  const series = splitList(args.values.series, SERIES, "series");
  const experiments = splitList(args.values.experiments, EXPERIMENTS, "experiment");
  const res = await runCrosscheck({
    ...(series ? { series } : {}),
    ...(experiments ? { experiments } : {}),
    skipInstall: args.values["no-install"] === true,
  });
  const tm = res.observations.timings;
  console.log("");
  console.log(formatRows(res.rows));
  console.log("");
  console.log(
    `timings (s): install ${tm.install}, fetch ${tm.fetch}, build ${tm.build}, boot ${tm.boot}, total ${tm.total}`,
  );
  console.log(`wrote ${res.observationsPath} and out/crosscheck.md`);
  const none = res.observations.kernels.every((k) => k.status !== "ok");
  const disagree = res.rows.filter((r) => r.agree === "no");
  if (none) console.error("no kernel of any series could be fetched");
  if (disagree.length > 0) console.error(`${disagree.length} disagreement(s)`);
  Deno.exit(none || disagree.length > 0 ? 1 : 0);
}
