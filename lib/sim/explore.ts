/**
 * Exploration over many executions: verdicts (`Always | Sometimes | Never`, as in the Linux
 * kernel memory model's litmus tests), the first counterexample with its seed, schedule and
 * trace, a shrinker that reduces the schedule while the failure persists, and exact replay.
 *
 * A scenario is a setup function that builds its whole world on a fresh engine (so every
 * execution starts from the same state): it spawns tasks, registers invariants and labels.
 *
 * @module
 */

import {
  decodeSchedule,
  encodeSchedule,
  Engine,
  FIFO_SCHEDULE,
  type RunOptions,
  type RunResult,
} from "./engine.ts";
import { exhaustive, type Search } from "./exhaustive.ts";
import { fifo } from "./fifo.ts";
import { pct } from "./pct.ts";
import { random } from "./random.ts";
import { replayChoices } from "./replay.ts";
import type { Strategy } from "./strategy.ts";
import type { Trace } from "./trace.ts";
import type { WaitReport } from "./deadlock.ts";

/**
 * The LKMM-style verdict of a label over all explored executions.
 *
 * @example
 * ```ts
 * import { exhaustive, explore, type Verdict } from "@mmsim/mmsim";
 * const r = explore((env) => {
 *   const order: string[] = [];
 *   for (const n of ["a", "b"]) env.spawn(n, function* () { order.push(n); });
 *   env.spawn("check", function* (env) {
 *     yield env.sleep(1);
 *     env.sometimes("a first", order[0] === "a");
 *     env.sometimes("both ran", order.length === 2);
 *     env.sometimes("ran twice", order.length > 2);
 *   });
 * }, { search: exhaustive() });
 * const want: Record<string, Verdict> = {
 *   "a first": "Sometimes",
 *   "both ran": "Always",
 *   "ran twice": "Never",
 * };
 * for (const [label, v] of Object.entries(want)) {
 *   if (r.verdicts[label] !== v) throw new Error(`${label}: ${r.verdicts[label]}, want ${v}`);
 * }
 * ```
 */
export type Verdict = "Always" | "Sometimes" | "Never";

/**
 * Optional hooks a scenario's setup may return.
 *
 * @example
 * ```ts
 * import { exhaustive, explore, type ScenarioHooks } from "@mmsim/mmsim";
 * const r = explore((env): ScenarioHooks => {
 *   let x = 0;
 *   for (const n of ["a", "b"]) {
 *     env.spawn(n, function* (env) { const v = x; yield env.point(); x = v + 1; });
 *   }
 *   return { fingerprint: () => x, outcome: () => ({ "both increments": x === 2 }) };
 * }, { search: exhaustive() });
 * // x takes the values 0, 1 and 2; the lost update makes "both increments" only Sometimes.
 * if (r.distinctStates !== 3 || r.verdicts["both increments"] !== "Sometimes") {
 *   throw new Error(`${r.distinctStates} states, ${r.verdicts["both increments"]}`);
 * }
 * ```
 */
export interface ScenarioHooks {
  /** A fingerprint of the model state, for counting distinct states. */
  fingerprint?: () => string | number;
  /** Called after the run: extra labels to record for this execution. */
  outcome?: (run: RunResult) => Record<string, boolean>;
}

/**
 * A scenario: build the world on a fresh engine.
 *
 * @example
 * ```ts
 * import { explore, replay, type Setup } from "@mmsim/mmsim";
 * // A setup builds the whole world on the fresh engine it is given, so every execution starts equal.
 * const setup: Setup = (env) => {
 *   env.spawn("reader", function* (env) { yield env.sleep(10); env.sometimes("read done"); });
 * };
 * if (explore(setup).verdicts["read done"] !== "Always") throw new Error("reader always finishes");
 * if (replay(setup, { seed: 1, schedule: "fifo" }).nowNs !== 10) throw new Error("10 ns");
 * ```
 */
export type Setup = (env: Engine) => void | ScenarioHooks;

/**
 * Options of {@link explore}.
 *
 * @example
 * ```ts
 * import { type Engine, explore, type ExploreOptions, randomSearch } from "@mmsim/mmsim";
 * const setup = (env: Engine) => {
 *   const order: string[] = [];
 *   for (const n of ["a", "b"]) env.spawn(n, function* () { order.push(n); });
 *   env.spawn("check", function* (env) { yield env.sleep(1); env.sometimes("b first", order[0] === "b"); });
 * };
 * const opts: ExploreOptions = {
 *   search: randomSearch({ executions: 50, seed: 9 }),
 *   fails: (run) => run.reached.get("b first") === true,
 *   stopAtFirstFailure: true,
 * };
 * const r = explore(setup, opts);
 * if (r.failures !== 1 || r.executions >= 50 || r.counterexample === null) {
 *   throw new Error(`${r.failures} failures in ${r.executions} executions`);
 * }
 * ```
 */
export interface ExploreOptions extends RunOptions {
  /** The search (default {@link exhaustive} with 2 preemptions). */
  search?: Search;
  /** Base seed (default 1). */
  seed?: number;
  /** Which executions count as failures (default: any violation, deadlock cycle or stuck run). */
  fails?: (run: RunResult) => boolean;
  /** Stop at the first failure (default false: explore everything for the verdicts). */
  stopAtFirstFailure?: boolean;
  /** Shrink the first counterexample (default true). */
  shrink?: boolean;
  /** Progress callback, called every `progressEvery` executions. */
  progress?: (msg: string) => void;
  /** Executions between progress calls (default 1000). */
  progressEvery?: number;
}

/**
 * A failing execution, replayable.
 *
 * @example An ABBA deadlock, found and replayed
 * ```ts
 * import { type Counterexample, type Engine, exhaustive, explore, Mutex, replay } from "@mmsim/mmsim";
 * const abba = (env: Engine) => {
 *   const a = new Mutex("A"), b = new Mutex("B");
 *   env.spawn("t1", function* (env) {
 *     yield* a.lock(env);
 *     yield env.point();
 *     yield* b.lock(env);
 *     b.unlock(env);
 *     a.unlock(env);
 *   });
 *   env.spawn("t2", function* (env) {
 *     yield* b.lock(env);
 *     yield env.point();
 *     yield* a.lock(env);
 *     a.unlock(env);
 *     b.unlock(env);
 *   });
 * };
 * const c: Counterexample | null = explore(abba, { search: exhaustive() }).counterexample;
 * if (c === null || c.waits?.kind !== "cycle") throw new Error("ABBA deadlock not found");
 * if (replay(abba, { seed: c.seed, schedule: c.schedule }).waits?.kind !== "cycle") {
 *   throw new Error(`${c.replay} must deadlock again`);
 * }
 * ```
 */
export interface Counterexample {
  /** Engine seed. */
  seed: number;
  /** Schedule string (see `encodeSchedule`). */
  schedule: string;
  /** Preemptions in the schedule. */
  preemptions: number;
  /** Steps of the failing run. */
  steps: number;
  /** Why it failed, in words. */
  why: string;
  /** Violations of the run. */
  violations: RunResult["violations"];
  /** Wait-for report, if tasks were blocked. */
  waits: WaitReport | null;
  /** Full trace of the (shrunk) replay. */
  trace: Trace;
  /** The schedule before shrinking, with its preemptions and steps. */
  original: { schedule: string; preemptions: number; steps: number };
  /** The call that replays it. */
  replay: string;
}

/**
 * Result of {@link explore}.
 *
 * @example
 * ```ts
 * import { explore, exhaustive, type ExploreResult } from "@mmsim/mmsim";
 * const r: ExploreResult = explore((env) => {
 *   let x = 0;
 *   for (const n of ["a", "b"]) {
 *     env.spawn(n, function* (env) { const v = x; yield env.point(); x = v + 1; });
 *   }
 *   env.spawn("check", function* (env) { yield env.sleep(1); env.sometimes("lost update", x === 1); });
 * }, { search: exhaustive() });
 * if (!r.complete || r.verdicts["lost update"] !== "Sometimes") throw new Error(JSON.stringify(r));
 * const lost = r.counts["lost update"] ?? 0;
 * if (!(lost > 0 && lost < r.executions)) throw new Error(`${lost} of ${r.executions}`);
 * ```
 */
export interface ExploreResult {
  /** Name of the search. */
  search: string;
  /** Executions run. */
  executions: number;
  /** Executions that failed. */
  failures: number;
  /** Steps over all executions. */
  totalSteps: number;
  /** Which bounds cut the search. */
  cut: Search["cut"];
  /** True if everything within the bounds was covered and nothing was cut. */
  complete: boolean;
  /** Per label: executions in which it held. */
  counts: Record<string, number>;
  /** Per label: Always / Sometimes / Never over the executions. */
  verdicts: Record<string, Verdict>;
  /** Distinct state fingerprints seen (null without a fingerprint hook). */
  distinctStates: number | null;
  /** The first failure, shrunk, with its trace; null if none. */
  counterexample: Counterexample | null;
}

/**
 * Labels every exploration records.
 *
 * @example
 * ```ts
 * import { BUILTIN_LABELS, explore } from "@mmsim/mmsim";
 * const r = explore((env) => { env.spawn("a", function* (env) { yield env.sleep(1); }); });
 * // Every exploration has a verdict for each built-in label.
 * for (const l of BUILTIN_LABELS) {
 *   if (r.verdicts[l] !== "Never") throw new Error(`${l}: ${r.verdicts[l]}`);
 * }
 * ```
 */
export const BUILTIN_LABELS = ["violation", "deadlock", "hung", "stuck"] as const;

/**
 * Default failure predicate: a violation, a deadlock cycle, or a stuck run.
 *
 * @example
 * ```ts
 * import { defaultFails, Engine } from "@mmsim/mmsim";
 * const ok = new Engine();
 * ok.spawn("a", function* (env) { yield env.sleep(1); });
 * if (defaultFails(ok.run())) throw new Error("a finished run does not fail");
 * const hung = new Engine();
 * hung.spawn("reader", function* (env) { yield env.hang("FUSE_READ reply"); });
 * if (!defaultFails(hung.run())) throw new Error("a run stuck on a wait fails");
 * ```
 */
export function defaultFails(run: RunResult): boolean {
  return run.violations.length > 0 || run.waits?.kind === "cycle" || run.reason === "stuck";
}

/**
 * Why a run failed, in one line.
 *
 * @example
 * ```ts
 * import { describeFailure, Engine } from "@mmsim/mmsim";
 * const e = new Engine();
 * e.spawn("end_io", function* (env) {
 *   yield env.sleep(3);
 *   env.violation("folio_end_writeback", "pfn 4 is not under writeback");
 * });
 * const why = describeFailure(e.run());
 * if (!why.includes("t=3 ns") || !why.includes("end_io#0") || !why.includes("pfn 4")) {
 *   throw new Error(why);
 * }
 * ```
 */
export function describeFailure(run: RunResult): string {
  if (run.violations.length > 0) {
    const v = run.violations[0]!;
    return `violation "${v.name}" at t=${v.tNs} ns, step ${v.step} in ${
      v.task ?? "-"
    }: ${v.message}`;
  }
  if (run.waits) return run.waits.text.split("\n").slice(0, 3).join("; ");
  return `run ended: ${run.reason}`;
}

function labelsOf(run: RunResult, hooks: ScenarioHooks): Map<string, boolean> {
  const m = new Map<string, boolean>();
  m.set("violation", run.violations.length > 0);
  for (const v of run.violations) m.set(`violation:${v.name}`, true);
  m.set("deadlock", run.waits?.kind === "cycle");
  m.set("hung", run.waits?.kind === "hung");
  m.set("stuck", run.reason === "stuck");
  for (const [k, v] of run.reached) m.set(k, v);
  if (hooks.outcome) { for (const [k, v] of Object.entries(hooks.outcome(run))) m.set(k, v); }
  return m;
}

function runOnce(
  setup: Setup,
  seed: number,
  strategy: Strategy,
  opts: RunOptions,
  trace: boolean,
  onFingerprint?: (fp: string | number) => void,
): { run: RunResult; hooks: ScenarioHooks } {
  const engine = new Engine({ seed, strategy, trace });
  const hooks = setup(engine) ?? {};
  if (onFingerprint && hooks.fingerprint) {
    const fp = hooks.fingerprint;
    engine.onStep(() => onFingerprint(fp()));
  }
  const run = engine.run({ ...opts, stopOnViolation: opts.stopOnViolation ?? true });
  return { run, hooks };
}

function mixSeed(seed: number, i: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2d);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * Explore a scenario under a search and compute verdicts for its labels.
 *
 * @example A lost wakeup, found and shrunk
 * ```ts
 * import { explore, exhaustive, WaitQueue } from "@mmsim/mmsim";
 * const r = explore((env) => {
 *   const q = new WaitQueue("data");
 *   let ready = false;
 *   env.spawn("consumer", function* (env) {
 *     if (!ready) {                 // check…
 *       yield env.point();          // …window…
 *       const w = q.prepare(env.current!, false);
 *       yield env.waitOn(w);        // …sleep: a wake in the window is lost
 *     }
 *   });
 *   env.spawn("producer", function* () { ready = true; q.wakeUp(); });
 * }, { search: exhaustive() });
 * if (r.verdicts.stuck !== "Sometimes" || !r.counterexample) throw new Error("not found");
 * if (!r.counterexample.replay.includes("schedule")) throw new Error("no replay call");
 * ```
 */
export function explore(setup: Setup, options: ExploreOptions = {}): ExploreResult {
  const search = options.search ?? exhaustive();
  const seed = options.seed ?? 1;
  const fails = options.fails ?? defaultFails;
  const every = options.progressEvery ?? 1000;
  const runOpts: RunOptions = {
    maxSteps: options.maxSteps ?? 100_000,
    maxTimeNs: options.maxTimeNs,
    stopOnViolation: options.stopOnViolation,
  };
  const counts: Record<string, number> = {};
  for (const l of BUILTIN_LABELS) counts[l] = 0;
  const states = new Set<string | number>();
  let fingerprinting = false;
  let executions = 0, failures = 0, totalSteps = 0;
  let first: { seed: number; run: RunResult } | null = null;
  for (;;) {
    const strategy = search.next();
    if (!strategy) break;
    const s = search.varySeed ? mixSeed(seed, executions) : seed;
    const { run, hooks } = runOnce(setup, s, strategy, runOpts, false, (fp) => {
      fingerprinting = true;
      states.add(fp);
    });
    search.record(run);
    executions++;
    totalSteps += run.steps;
    for (const [k, v] of labelsOf(run, hooks)) {
      counts[k] = (counts[k] ?? 0) + (v ? 1 : 0);
    }
    if (fails(run)) {
      failures++;
      if (!first) first = { seed: s, run };
      if (options.stopAtFirstFailure) break;
    }
    if (options.progress && executions % every === 0) {
      options.progress(`${search.name}: ${executions} executions, ${failures} failing`);
    }
  }
  const verdicts: Record<string, Verdict> = {};
  for (const [k, c] of Object.entries(counts)) {
    verdicts[k] = c === 0 ? "Never" : c === executions ? "Always" : "Sometimes";
  }
  let counterexample: Counterexample | null = null;
  if (first) {
    counterexample = options.shrink === false
      ? makeCounterexample(setup, first.seed, first.run.schedule, first.run, runOpts)
      : shrink(setup, { seed: first.seed, schedule: first.run.schedule }, {
        ...runOpts,
        fails,
      });
  }
  return {
    search: search.name,
    executions,
    failures,
    totalSteps,
    cut: search.cut,
    complete: search.complete,
    counts,
    verdicts,
    distinctStates: fingerprinting ? states.size : null,
    counterexample,
  };
}

/**
 * Replay a recorded execution exactly, with tracing on.
 *
 * @example
 * ```ts
 * import { replay } from "@mmsim/mmsim";
 * const setup = (env: import("@mmsim/mmsim").Engine) => {
 *   for (const n of ["a", "b"]) env.spawn(n, function* (env) { env.emit("hello", n); yield env.point(); });
 * };
 * const a = replay(setup, { seed: 1, schedule: "1" }).trace!.toJsonl();
 * const b = replay(setup, { seed: 1, schedule: "1" }).trace!.toJsonl();
 * if (a !== b) throw new Error("replay must be exact");
 * ```
 */
export function replay(
  setup: Setup,
  at: { seed: number; schedule: string },
  options: RunOptions = {},
): RunResult {
  const strategy = at.schedule === FIFO_SCHEDULE
    ? fifo()
    : replayChoices(decodeSchedule(at.schedule));
  return runOnce(setup, at.seed, strategy, { maxSteps: 100_000, ...options }, true).run;
}

function replayCall(seed: number, schedule: string): string {
  return `replay(scenario, { seed: ${seed}, schedule: ${JSON.stringify(schedule)} })`;
}

function makeCounterexample(
  setup: Setup,
  seed: number,
  schedule: string,
  original: RunResult,
  runOpts: RunOptions,
): Counterexample {
  const run = replay(setup, { seed, schedule }, runOpts);
  return {
    seed,
    schedule,
    preemptions: run.preemptions,
    steps: run.steps,
    why: describeFailure(run),
    violations: run.violations,
    waits: run.waits,
    trace: run.trace!,
    original: {
      schedule: original.schedule,
      preemptions: original.preemptions,
      steps: original.steps,
    },
    replay: replayCall(seed, schedule),
  };
}

function trimZeros(c: number[]): number[] {
  let n = c.length;
  while (n > 0 && c[n - 1] === 0) n--;
  return c.slice(0, n);
}

/**
 * Shrink a failing schedule: truncate it, zero choices (zero = no preemption), lower them, as
 * long as the run still fails the same way. Returns the shrunk counterexample.
 *
 * @example
 * ```ts
 * import { shrink, Engine } from "@mmsim/mmsim";
 * const setup = (env: Engine) => {
 *   let x = 0;
 *   for (const n of ["a", "b", "c"]) {
 *     env.spawn(n, function* (env) { const v = x; yield env.point(); x = v + 1; yield env.point(); });
 *   }
 *   env.spawn("check", function* (env) { yield env.sleep(1); env.always("no lost update", x === 3); });
 * };
 * const c = shrink(setup, { seed: 1, schedule: "1.2.1.0.2.1" });
 * if (c.preemptions > 1) throw new Error(`not minimal: ${c.schedule}`);
 * ```
 */
export function shrink(
  setup: Setup,
  at: { seed: number; schedule: string },
  options: RunOptions & { fails?: (r: RunResult) => boolean; maxReplays?: number } = {},
): Counterexample {
  const fails = options.fails ?? defaultFails;
  const runOpts: RunOptions = { maxSteps: options.maxSteps ?? 100_000, ...options };
  const original = replay(setup, at, runOpts);
  if (!fails(original)) {
    throw new Error(
      `shrink: ${replayCall(at.seed, at.schedule)} does not fail (${original.reason})`,
    );
  }
  if (at.schedule === FIFO_SCHEDULE) {
    return makeCounterexample(setup, at.seed, at.schedule, original, runOpts);
  }
  const signature = (r: RunResult) => r.violations[0]?.name ?? r.waits?.kind ?? r.reason;
  const want = signature(original);
  let budget = options.maxReplays ?? 2000;
  let best = trimZeros(decodeSchedule(original.schedule));
  let bestRun = original;
  const tryChoices = (c: number[]): boolean => {
    if (budget-- <= 0) return false;
    const r = replay(setup, { seed: at.seed, schedule: encodeSchedule(c) }, runOpts);
    if (fails(r) && signature(r) === want) {
      const actual = trimZeros(decodeSchedule(r.schedule));
      const sum = (c: number[]) => c.reduce((a, b) => a + b, 0);
      const better = r.preemptions !== bestRun.preemptions
        ? r.preemptions < bestRun.preemptions
        : actual.length !== best.length
        ? actual.length < best.length
        : sum(actual) < sum(best);
      if (better) {
        best = actual;
        bestRun = r;
        return true;
      }
    }
    return false;
  };
  let changed = true;
  while (changed && budget > 0) {
    changed = false;
    // 1. Truncate: the shortest prefix that still fails (defaults after it).
    const base = best;
    let lo = 0, hi = base.length;
    while (lo < hi && budget > 0) {
      const mid = (lo + hi) >> 1;
      if (tryChoices(base.slice(0, mid))) {
        changed = true;
        hi = mid;
      } else lo = mid + 1;
    }
    // 2. Zero single choices, from the end.
    for (let i = best.length - 1; i >= 0 && budget > 0; i--) {
      if (best[i] === 0) continue;
      const c = best.slice();
      c[i] = 0;
      if (tryChoices(c)) changed = true;
    }
    // 3. Lower single choices.
    for (let i = best.length - 1; i >= 0 && budget > 0; i--) {
      if ((best[i] ?? 0) <= 1) continue;
      const c = best.slice();
      c[i] = c[i]! - 1;
      if (tryChoices(c)) changed = true;
    }
  }
  const schedule = encodeSchedule(best);
  return makeCounterexample(setup, at.seed, schedule, original, runOpts);
}

/**
 * Repeated runs of a per-execution strategy: `random` or `pct` as a search.
 *
 * @example
 * ```ts
 * import { explore, randomSearch } from "@mmsim/mmsim";
 * const r = explore((env) => { env.spawn("a", function* (env) { yield env.point(); }); },
 *   { search: randomSearch({ executions: 10, seed: 3 }) });
 * if (r.executions !== 10) throw new Error("10 executions");
 * ```
 */
export function randomSearch(opts: { executions: number; seed: number }): Search {
  return repeated(
    `random×${opts.executions}`,
    opts.executions,
    (i) => random(mixSeed(opts.seed, i)),
  );
}

/**
 * PCT as a search: `executions` runs of {@link pct} with fresh seeds.
 *
 * @example
 * ```ts
 * import { explore, pctSearch } from "@mmsim/mmsim";
 * const r = explore((env) => { env.spawn("a", function* (env) { yield env.point(); }); },
 *   { search: pctSearch({ executions: 5, depth: 2, maxSteps: 4, seed: 1 }) });
 * if (r.executions !== 5) throw new Error("5 executions");
 * ```
 */
export function pctSearch(
  opts: { executions: number; depth: number; maxSteps: number; seed: number },
): Search {
  return repeated(
    `pct(d=${opts.depth})×${opts.executions}`,
    opts.executions,
    (i) => pct({ depth: opts.depth, maxSteps: opts.maxSteps, seed: mixSeed(opts.seed, i) }),
  );
}

function repeated(name: string, executions: number, make: (i: number) => Strategy): Search {
  let i = 0;
  const cut = { preemptions: false, steps: false, executions: false };
  return {
    name,
    varySeed: true,
    cut,
    get complete() {
      return false;
    },
    next() {
      return i < executions ? make(i++) : null;
    },
    record(run) {
      if (run.reason === "steps") cut.steps = true;
    },
  };
}
