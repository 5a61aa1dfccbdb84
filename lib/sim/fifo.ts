/**
 * The fifo strategy: run tasks in the order they became ready; `choose` always takes 0.
 *
 * @module
 */

import type { Strategy } from "./strategy.ts";

/**
 * First-in first-out scheduling (the engine's fast path; it records no choices).
 *
 * @example
 * ```ts
 * import { Engine, fifo } from "@mmsim/mmsim";
 * const order: string[] = [];
 * const e = new Engine({ strategy: fifo() });
 * for (const n of ["a", "b"]) e.spawn(n, function* (env) { order.push(n); yield env.point(); order.push(n); });
 * e.run();
 * if (order.join("") !== "abab") throw new Error(order.join(""));
 * ```
 */
export function fifo(): Strategy {
  return {
    name: "fifo",
    pickTask: (ctx) => ctx.fifoIndex,
    pickValue: () => 0,
  };
}
