/**
 * Allocator pressure for the thread 003 stress worlds: take every frame of the zone but a few,
 * so that a frame freed by truncation or reclaim is the next one handed out, and measure page
 * reuse (how long a freed frame stays free). A frame leaked by a bad page (the kernel never
 * frees a page freed in a bad state) is replaced from the taken ones, so the pressure stays
 * the same; when none is left the run is stopped.
 *
 * Private to lib/claims. Not a kernel model.
 *
 * @module
 */

import type { Engine, Process } from "../sim/engine.ts";
import { waitEvent, WaitQueue } from "../sim/wait_queue.ts";
import { folioAlloc, folioPut } from "../mm/folio.ts";
import type { Mm } from "../mm/mm.ts";

/** Frames held back from the allocator, and reuse statistics. */
export class Pressure {
  /** Frames freed since the start. */
  frees = 0;
  /** Allocations that got a frame freed earlier in the run. */
  reuses = 0;
  /** Sum of free → reallocation times, ns. */
  reuseNs = 0;
  /** True when bad pages had leaked every frame and the run was stopped. */
  exhausted = false;
  readonly #mm: Mm;
  readonly #env: Engine;
  readonly #hog: number[] = [];
  readonly #freedAt: Float64Array;
  readonly #freed = new WaitQueue("a frame is freed");
  #relieved = 0;

  /** Take every free frame of `mm` but `keep`. */
  constructor(mm: Mm, keep: number) {
    this.#mm = mm;
    this.#env = mm.env;
    while (mm.zone.nrFreePages > keep) {
      const f = folioAlloc(mm, 0);
      if (f < 0) break;
      this.#hog.push(f);
    }
    this.#freedAt = new Float64Array(mm.mem.nrFrames).fill(-1);
    mm.onFree.push((pfn) => {
      this.frees++;
      this.#freedAt[pfn] = this.#env.nowNs;
      this.#freed.wakeUp(0);
    });
  }

  /** Mean free → reallocation time, ns (0 if nothing was reused). */
  get meanReuseNs(): number {
    return this.reuses > 0 ? this.reuseNs / this.reuses : 0;
  }

  /**
   * Allocate an order-0 frame, sleeping until one is freed; a frame leaked by a bad page is
   * made up from the held-back ones. Use with `yield*`.
   */
  *alloc(): Process<number> {
    const mm = this.#mm, env = this.#env;
    for (;;) {
      const f = folioAlloc(mm, 0);
      if (f >= 0) {
        const at = this.#freedAt[f]!;
        if (at >= 0) {
          this.reuses++;
          this.reuseNs += env.nowNs - at;
        }
        return f;
      }
      const leaked = env.violations.filter((v) => v.name === "bad_page").length;
      if (leaked > this.#relieved) {
        if (this.#hog.length === 0) {
          this.exhausted = true;
          env.stop();
          yield env.hang("every frame leaked by bad pages");
        }
        this.#relieved++;
        folioPut(mm, this.#hog.pop()!);
        continue;
      }
      yield* waitEvent(env, this.#freed, () => mm.zone.nrFreePages > 0);
    }
  }
}
