/**
 * The random strategy: a uniformly random ready task at every choice point, from its own
 * seeded stream.
 *
 * @module
 */

import { Rng } from "./rng.ts";
import type { Strategy } from "./strategy.ts";

/**
 * Uniform random scheduling with its own seeded stream (independent of the model's).
 *
 * @example
 * ```ts
 * import { Engine, random } from "@mmsim/mmsim";
 * const run = (seed: number) => {
 *   const order: string[] = [];
 *   const e = new Engine({ strategy: random(seed) });
 *   for (const n of ["a", "b", "c"]) e.spawn(n, function* (env) { yield env.point(); order.push(n); });
 *   return { order: order.join(""), schedule: e.run().schedule };
 * };
 * if (run(5).order !== run(5).order) throw new Error("same seed, same schedule");
 * ```
 */
export function random(seed: number): Strategy {
  const rng = new Rng(seed ^ 0x5bd1e995);
  return {
    name: `random(${seed})`,
    pickTask: (ctx) => rng.int(ctx.ready.length),
    pickValue: (n) => rng.int(n),
  };
}
