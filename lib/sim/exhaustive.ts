/**
 * Bounded exhaustive exploration: depth-first search over scheduling choice points by
 * replaying choice prefixes (stateless model checking, as in CHESS, loom and shuttle's DFS),
 * with a preemption bound (Musuvathi & Qadeer, "Iterative context bounding", PLDI 2007), a
 * step bound per execution and an execution bound. It reports which bound cut the search, so
 * "no counterexample" is only claimed for what was actually covered.
 *
 * @module
 */

import type { RunResult } from "./engine.ts";
import type { Strategy } from "./strategy.ts";

/**
 * A multi-execution search: hands out one strategy per execution and learns from each run.
 *
 * @example The smallest search: one fifo execution
 * ```ts
 * import { explore, fifo, type RunResult, type Search } from "@mmsim/mmsim";
 * function once(): Search {
 *   let started = false;
 *   const runs: RunResult[] = [];
 *   return {
 *     name: "once",
 *     varySeed: false,
 *     cut: { preemptions: false, steps: false, executions: false },
 *     get complete() {
 *       return runs.length === 1;
 *     },
 *     next: () => (started ? null : (started = true, fifo())),
 *     record: (run) => void runs.push(run),
 *   };
 * }
 * const r = explore((env) => { env.spawn("a", function* (env) { yield env.point(); }); }, {
 *   search: once(),
 * });
 * if (r.executions !== 1 || r.search !== "once" || !r.complete) throw new Error(r.search);
 * ```
 */
export interface Search {
  /** Name shown in reports. */
  readonly name: string;
  /** Whether executions should use different model seeds (random searches) or one (DFS). */
  readonly varySeed: boolean;
  /** The strategy for the next execution, or null when the search is over. */
  next(): Strategy | null;
  /** Report how the last execution went. */
  record(run: RunResult): void;
  /** Which bounds cut the search (true = something was not explored because of it). */
  readonly cut: { preemptions: boolean; steps: boolean; executions: boolean };
  /** True when the search covered everything within its bounds. */
  readonly complete: boolean;
}

interface TrailEntry {
  n: number;
  c: number;
  prevReady: boolean;
}

/**
 * Options of {@link exhaustive}.
 *
 * @example
 * ```ts
 * import { type Engine, exhaustive, type ExhaustiveOptions, explore } from "@mmsim/mmsim";
 * const setup = (env: Engine) => {
 *   for (const n of ["a", "b", "c"]) {
 *     env.spawn(n, function* (env) { yield env.point(); yield env.point(); });
 *   }
 * };
 * const none: ExhaustiveOptions = { maxPreemptions: 0 };
 * const r0 = explore(setup, { search: exhaustive(none) });
 * const r2 = explore(setup, { search: exhaustive({ maxPreemptions: 2 }) });
 * // The preemption bound cuts the search, and says so.
 * if (!r0.cut.preemptions || r0.complete || !(r0.executions < r2.executions)) {
 *   throw new Error(`${r0.executions} vs ${r2.executions}`);
 * }
 * const capped = explore(setup, { search: exhaustive({ maxExecutions: 3 }) });
 * if (capped.executions !== 3 || !capped.cut.executions) throw new Error("execution bound");
 * ```
 */
export interface ExhaustiveOptions {
  /** Maximum preemptions per execution (default 2). */
  maxPreemptions?: number;
  /** Maximum executions (default 100 000). */
  maxExecutions?: number;
}

/**
 * Depth-first search over all schedules within the bounds.
 *
 * @example
 * ```ts
 * import { explore, exhaustive } from "@mmsim/mmsim";
 * const r = explore((env) => {
 *   let x = 0;
 *   for (const n of ["a", "b"]) {
 *     env.spawn(n, function* (env) { const v = x; yield env.point(); x = v + 1; });
 *   }
 *   env.spawn("check", function* (env) { yield env.sleep(1); env.sometimes("lost update", x === 1); });
 * }, { search: exhaustive({ maxPreemptions: 2 }) });
 * if (r.verdicts["lost update"] !== "Sometimes") throw new Error(JSON.stringify(r.verdicts));
 * ```
 */
export function exhaustive(options: ExhaustiveOptions = {}): Search {
  const maxPreemptions = options.maxPreemptions ?? 2;
  const maxExecutions = options.maxExecutions ?? 100_000;
  let prefix: number[] = [];
  let trail: TrailEntry[] = [];
  let executions = 0;
  let finished = false;
  const cut = { preemptions: false, steps: false, executions: false };
  return {
    name: `exhaustive(preemptions≤${maxPreemptions})`,
    varySeed: false,
    cut,
    get complete() {
      return finished && !cut.preemptions && !cut.steps && !cut.executions;
    },
    next(): Strategy | null {
      if (finished) return null;
      if (executions >= maxExecutions) {
        cut.executions = true;
        finished = true;
        return null;
      }
      executions++;
      trail = [];
      const pre = prefix;
      return {
        name: "exhaustive",
        pickTask(ctx) {
          const i = trail.length;
          const n = ctx.ready.length;
          const c = i < pre.length ? Math.min(pre[i]!, n - 1) : 0;
          trail.push({ n, c, prevReady: ctx.prevReady });
          return c;
        },
        pickValue(n) {
          const i = trail.length;
          const c = i < pre.length ? Math.min(pre[i]!, n - 1) : 0;
          trail.push({ n, c, prevReady: false });
          return c;
        },
      };
    },
    record(run: RunResult) {
      if (run.reason === "steps") cut.steps = true;
      // Preemptions used before each position.
      const used: number[] = new Array(trail.length);
      let u = 0;
      for (let i = 0; i < trail.length; i++) {
        used[i] = u;
        const e = trail[i]!;
        if (e.prevReady && e.c !== 0) u++;
      }
      for (let i = trail.length - 1; i >= 0; i--) {
        const e = trail[i]!;
        const a = e.c + 1;
        if (a >= e.n) continue;
        const cost = e.prevReady ? 1 : 0;
        if (used[i]! + cost > maxPreemptions) {
          cut.preemptions = true;
          continue;
        }
        prefix = trail.slice(0, i).map((t) => t.c);
        prefix.push(a);
        return;
      }
      finished = true;
    },
  };
}
