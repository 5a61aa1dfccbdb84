/**
 * The replay strategy: follow a recorded list of choices, then continue without preemption.
 *
 * @module
 */

import type { Strategy } from "./strategy.ts";

/**
 * Replay recorded choices (canonical indices, see `ChoiceContext`); past their end, keep
 * running the previous task (index 0) and take 0 for values. A choice beyond the ready count
 * (after an edit of the schedule) is clamped.
 *
 * @example
 * ```ts
 * import { Engine, replayChoices, decodeSchedule } from "@mmsim/mmsim";
 * const e = new Engine({ strategy: replayChoices(decodeSchedule("1")) });
 * const order: string[] = [];
 * for (const n of ["a", "b"]) e.spawn(n, function* () { order.push(n); });
 * e.run();
 * if (order.join("") !== "ba") throw new Error(order.join(""));
 * ```
 */
export function replayChoices(choices: readonly number[]): Strategy & { readonly used: number } {
  let i = 0;
  return {
    name: "replay",
    get used() {
      return i;
    },
    pickTask(ctx) {
      const c = i < choices.length ? choices[i]! : 0;
      i++;
      return Math.min(c, ctx.ready.length - 1);
    },
    pickValue(n) {
      const c = i < choices.length ? choices[i]! : 0;
      i++;
      return Math.min(c, n - 1);
    },
  };
}
