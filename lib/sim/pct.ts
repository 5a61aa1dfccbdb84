/**
 * Probabilistic concurrency testing (PCT), after Burckhardt, Kothari, Musuvathi and
 * Nagarakatte, "A Randomized Scheduler with Probabilistic Guarantees of Finding Bugs"
 * (ASPLOS 2010): every task gets a random priority, the highest-priority ready task runs, and
 * at d−1 random steps the running task's priority drops below all initial ones. A bug of depth
 * d in a program with n tasks and k steps is found with probability at least 1/(n·k^(d−1)).
 *
 * @module
 */

import { Rng } from "./rng.ts";
import type { Task } from "./engine.ts";
import type { Strategy } from "./strategy.ts";

/**
 * Options of {@link pct}.
 *
 * @example
 * ```ts
 * import { pct, type PctOptions } from "@mmsim/mmsim";
 * const opts: PctOptions = { depth: 3, maxSteps: 100, seed: 1 };
 * if (!pct(opts).name.includes("d=3")) throw new Error(pct(opts).name);
 * let rejected = false;
 * try {
 *   pct({ depth: 5, maxSteps: 3, seed: 1 }); // needs 4 distinct change points in [1, 3]
 * } catch (e) {
 *   rejected = e instanceof RangeError;
 * }
 * if (!rejected) throw new Error("depth − 1 > maxSteps must be rejected");
 * ```
 */
export interface PctOptions {
  /** Bug depth d (number of ordering constraints), ≥ 1. */
  depth: number;
  /** Estimated number of steps k of one run; change points are drawn from [1, k]. */
  maxSteps: number;
  /** Seed of the strategy's stream. */
  seed: number;
}

/**
 * PCT scheduling for one run.
 *
 * @example
 * ```ts
 * import { Engine, pct } from "@mmsim/mmsim";
 * const e = new Engine({ strategy: pct({ depth: 2, maxSteps: 10, seed: 1 }) });
 * for (const n of ["a", "b"]) e.spawn(n, function* (env) { yield env.point(); });
 * if (e.run().reason !== "done") throw new Error("pct run did not finish");
 * ```
 */
export function pct(options: PctOptions): Strategy {
  const { depth, maxSteps, seed } = options;
  if (!(depth >= 1) || !(maxSteps >= 1)) {
    throw new RangeError(`pct: depth and maxSteps must be ≥ 1, got ${depth}, ${maxSteps}`);
  }
  if (depth - 1 > maxSteps) {
    throw new RangeError(
      `pct: depth ${depth} needs ${depth - 1} distinct change points in [1, maxSteps], ` +
        `but maxSteps is ${maxSteps}`,
    );
  }
  const rng = new Rng(seed ^ 0x27d4eb2d);
  const prio = new Map<Task, number>();
  // d−1 change points in [1, k]; the i-th lowers the running task to priority i (< d).
  const change = new Map<number, number>();
  for (let i = 1; i < depth; i++) {
    let k: number;
    do k = 1 + rng.int(maxSteps); while (change.has(k));
    change.set(k, i);
  }
  return {
    name: `pct(d=${depth},k=${maxSteps},seed=${seed})`,
    onSpawn(task) {
      prio.set(task, depth + rng.float() * 1e9);
    },
    onStep(task, step) {
      const p = change.get(step);
      if (p !== undefined) prio.set(task, p);
    },
    pickTask(ctx) {
      let best = 0;
      let bp = -Infinity;
      for (let i = 0; i < ctx.ready.length; i++) {
        const p = prio.get(ctx.ready[i]!) ?? depth;
        if (p > bp) {
          bp = p;
          best = i;
        }
      }
      return best;
    },
    pickValue: (n) => rng.int(n),
  };
}
