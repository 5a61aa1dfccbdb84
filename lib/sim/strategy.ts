/**
 * The scheduling-strategy interface: which of the tasks ready at the same instant runs next,
 * and which value a nondeterministic `env.choose(n)` takes. Mechanism (the engine) apart from
 * policy (the strategy), as in shuttle and loom. Each strategy lives in its own file:
 * {@link fifo}, {@link random}, {@link pct}, {@link replayChoices}; the multi-execution
 * searches ({@link exhaustive}, repeated random/PCT runs) are in `explore.ts`.
 *
 * @module
 */

import type { Engine, Task } from "./engine.ts";

/**
 * What a strategy sees at a scheduling choice point.
 *
 * @example
 * ```ts
 * import { type ChoiceContext, Engine, type Strategy } from "@mmsim/mmsim";
 * const seen: { prevReady: boolean; first: string }[] = [];
 * // Always continue the task that ran last (canonical index 0): never preempt.
 * const keepRunning: Strategy = {
 *   name: "keep-running",
 *   pickTask(ctx: ChoiceContext) {
 *     seen.push({ prevReady: ctx.prevReady, first: ctx.ready[0]!.name });
 *     return 0;
 *   },
 *   pickValue: () => 0,
 * };
 * const e = new Engine({ strategy: keepRunning });
 * e.spawn("a", function* (env) { yield env.point(); yield env.point(); });
 * e.spawn("b", function* (env) { yield env.point(); });
 * const r = e.run();
 * if (r.preemptions !== 0 || !seen.some((c) => c.prevReady && c.first === "a")) {
 *   throw new Error(JSON.stringify(seen));
 * }
 * ```
 */
export interface ChoiceContext {
  /** The engine (time, steps, tasks). */
  readonly engine: Engine;
  /**
   * Ready tasks in canonical order: the previously running task first when it is still ready
   * (choosing it is not a preemption), then the rest in the order they became ready.
   */
  readonly ready: readonly Task[];
  /** True when `ready[0]` is the task that ran last (so any other choice preempts it). */
  readonly prevReady: boolean;
  /** Canonical index of the task that has been ready longest (the fifo choice). */
  readonly fifoIndex: number;
}

/**
 * A scheduling strategy for one run. Return canonical indices (see {@link ChoiceContext}).
 *
 * @example Newest ready task first
 * ```ts
 * import { Engine, type Strategy } from "@mmsim/mmsim";
 * const lifo: Strategy = {
 *   name: "lifo",
 *   pickTask: (ctx) => ctx.ready.length - 1,
 *   pickValue: (n) => n - 1,
 * };
 * const e = new Engine({ strategy: lifo });
 * const order: string[] = [];
 * for (const n of ["a", "b", "c"]) e.spawn(n, function* () { order.push(n); });
 * const t = e.spawn("chooser", function* (env) { yield env.sleep(1); return yield env.choose(4); });
 * e.run();
 * if (order.join("") !== "cba" || t.result !== 3) throw new Error(`${order} ${t.result}`);
 * ```
 */
export interface Strategy {
  /** Name shown in reports (`"fifo"` selects the engine's fast path). */
  readonly name: string;
  /** Called once when the engine is created. */
  begin?(engine: Engine): void;
  /** Pick the next task: an index into `ctx.ready`. */
  pickTask(ctx: ChoiceContext): number;
  /** Pick a value in [0, n) for `env.choose(n)`. */
  pickValue(n: number, engine: Engine): number;
  /** Called when a task is spawned. */
  onSpawn?(task: Task): void;
  /** Called before each step with the task about to run and the step number (from 1). */
  onStep?(task: Task, step: number): void;
}
