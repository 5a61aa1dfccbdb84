/**
 * Measurement helpers shared by the benchmarks: medians, process CPU time, RSS, the load average, and running a command as a "whole process" (wall time from spawn to exit, plus the
 * child's user + system CPU time and peak RSS from GNU time when it is installed).
 *
 * Why CPU time next to wall time: the benchmark machines are small (2 cores) and shared, so a
 * wall-clock rate measures the neighbours as much as the code. A rate over the process's own
 * CPU time (user + system, all its threads, Deno start-up included for whole-process figures)
 * is the steadier figure and errs low on an idle machine (GC and compiler threads add CPU time
 * without adding wall time). The table shows both.
 *
 * Benchmarks only: this reads the wall clock, which the library never does.
 *
 * @module
 */

import process from "node:process";

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median: empty list");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU time (user + system, all threads) this process has used so far, in seconds. */
export function cpuSeconds(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

/** Current resident set size of this process in bytes. */
export function rssBytes(): number {
  return Deno.memoryUsage().rss;
}

/** The 1-, 5- and 15-minute load averages (needs `--allow-sys=loadavg`), or null. */
export function loadAverage(): [number, number, number] | null {
  try {
    const [a, b, c] = Deno.loadavg();
    return [a!, b!, c!];
  } catch {
    return null;
  }
}

/** Rates of one in-process measurement: work per wall second and per CPU second. */
export interface Rate {
  /** Work units per second of wall time. */
  wall: number;
  /** Work units per second of this process's CPU time. */
  cpu: number;
}

/**
 * Time `fn` (which returns the work it did, e.g. steps or operations) `runs` times after
 * `warmup` untimed calls; returns the median rates by wall and by CPU time.
 */
export function measure(fn: () => number, runs = 5, warmup = 1): Rate & { runs: Rate[] } {
  for (let i = 0; i < warmup; i++) fn();
  const all: Rate[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = cpuSeconds();
    const t0 = performance.now();
    const work = fn();
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds() - c0;
    all.push({ wall: work / wall, cpu: work / cpu });
  }
  return { wall: median(all.map((r) => r.wall)), cpu: median(all.map((r) => r.cpu)), runs: all };
}

/** A finished child process: its output and what it cost. */
export interface Timed {
  /** Wall time from spawn to exit, in seconds. */
  wallS: number;
  /** User + system CPU time of the child (GNU time), or null without /usr/bin/time. */
  cpuS: number | null;
  /** Peak resident set size of the child in bytes (GNU time), or null. */
  maxRssBytes: number | null;
  /** Standard output. */
  stdout: string;
  /** Standard error (without GNU time's line). */
  stderr: string;
}

let gnuTime: boolean | undefined;
function hasGnuTime(): boolean {
  if (gnuTime === undefined) {
    try {
      gnuTime = Deno.statSync("/usr/bin/time").isFile;
    } catch {
      gnuTime = false;
    }
  }
  return gnuTime;
}

/**
 * Run `cmd` to completion as a whole process. With /usr/bin/time (GNU time) the child's CPU time
 * and peak RSS are measured too. Throws if the command fails, with its standard error.
 */
export async function runTimed(
  cmd: readonly string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Timed> {
  const useTime = hasGnuTime();
  const timeFile = useTime ? await Deno.makeTempFile({ prefix: "mmsim-bench-time-" }) : "";
  const argv = useTime ? ["-f", "%e %U %S %M", "-o", timeFile, ...cmd] : cmd.slice(1);
  const program = useTime ? "/usr/bin/time" : cmd[0]!;
  const t0 = performance.now();
  const out = await new Deno.Command(program, {
    args: argv,
    env: opts.env,
    cwd: opts.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallS = (performance.now() - t0) / 1000;
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout), stderr = dec.decode(out.stderr);
  let cpuS: number | null = null, maxRssBytes: number | null = null;
  if (useTime) {
    const line = (await Deno.readTextFile(timeFile)).trim().split("\n").at(-1) ?? "";
    await Deno.remove(timeFile);
    const [, u, s, m] = line.split(" ").map(Number);
    if (Number.isFinite(u) && Number.isFinite(s)) cpuS = u! + s!;
    if (Number.isFinite(m)) maxRssBytes = m! * 1024;
  }
  if (!out.success) {
    throw new Error(
      `benchmark command failed (exit ${out.code}): ${cmd.join(" ")}\n${stderr.slice(-2000)}`,
    );
  }
  return { wallS, cpuS, maxRssBytes, stdout, stderr };
}

/** `deno run` arguments for a script in this directory, with the given permission flags. */
export function denoRun(script: string, args: readonly string[], flags: readonly string[] = []) {
  return [
    Deno.execPath(),
    "run",
    ...flags,
    new URL(script, import.meta.url).pathname,
    ...args,
  ];
}

/** The last line of `stdout` parsed as JSON (children print one JSON object last). */
export function lastJson<T>(stdout: string): T {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!) as T;
}
