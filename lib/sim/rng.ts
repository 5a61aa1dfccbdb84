/**
 * Seeded pseudo-random numbers for the engine and the models.
 *
 * The generator is xoroshiro128+ (Blackman & Vigna, 2016) as implemented by `npm:pure-rand`
 * (v8, 32-bit halves, mutable `next()` and `jump()`). Independent streams come from its jump
 * function: `split()` returns a copy advanced by 2^64 steps and advances this stream past it, so
 * every actor can own a stream whose draws never depend on how often the others draw. The same
 * seed gives the same numbers on every machine.
 *
 * @module
 */

import {
  xoroshiro128plus,
  xoroshiro128plusFromState,
} from "npm:pure-rand@^8/generator/xoroshiro128plus";

/** The underlying jumpable generator of pure-rand. */
type Gen = ReturnType<typeof xoroshiro128plus>;

/** splitmix32 (a 32-bit variant of Steele, Lea & Flood's SplitMix) over successive counters. */
function seeded(seed: number): Gen {
  let a = seed | 0;
  const next = () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) | 0;
  };
  const state: number[] = [next(), next(), next(), next()];
  if (!state.some((w) => w !== 0)) state[0] = 1; // xoroshiro's state must not be all zero
  return xoroshiro128plusFromState(state) as Gen;
}

const SCALE26 = 2 ** -26;
const SCALE53 = 2 ** -53;

/**
 * A seeded random stream (xoroshiro128+). All randomness in mmsim flows from one of these.
 *
 * @example
 * ```ts
 * import { Rng } from "@mmsim/mmsim";
 * const a = new Rng(42), b = new Rng(42);
 * if (a.int(100) !== b.int(100)) throw new Error("same seed, same numbers");
 * const server = a.split();
 * const x = server.float();
 * if (!(x >= 0 && x < 1)) throw new Error("float in [0, 1)");
 * ```
 */
export class Rng {
  #g: Gen;
  /** The seed this stream (or its ancestor) was created from. */
  readonly seed: number;

  /**
   * Create a stream from an integer seed (only the low 32 bits are used). The 128-bit state is
   * filled from the seed by splitmix32 (pure-rand's own seeding puts a small seed straight into
   * the state, so the first draws of seeds 0, 1, 2… are nearly equal).
   */
  constructor(seed: number, gen?: Gen) {
    this.seed = seed;
    this.#g = gen ?? seeded(seed);
  }

  /** A uniform unsigned 32-bit integer. */
  nextU32(): number {
    return this.#g.next() >>> 0;
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  float(): number {
    const a = this.#g.next() & 0x3ffffff;
    const b = this.#g.next() & 0x7ffffff;
    return a * SCALE26 + b * SCALE53;
  }

  /** A uniform integer in [0, n) for 1 ≤ n ≤ 2^32 (rejection sampling, no modulo bias). */
  int(n: number): number {
    if (!(n >= 1 && n <= 2 ** 32) || !Number.isInteger(n)) {
      throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    if (n === 1) return 0;
    const limit = Math.floor(2 ** 32 / n) * n;
    let v = this.nextU32();
    while (v >= limit) v = this.nextU32();
    return v % n;
  }

  /** A uniform integer in [lo, hi] (inclusive). */
  intBetween(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** An exponentially distributed number with the given mean (inverse transform). */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Rng.pick: empty array");
    return items[this.int(items.length)]!;
  }

  /** Shuffle an array in place (Fisher–Yates) and return it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }

  /**
   * An independent stream: a copy of this generator jumped ahead by 2^64 draws. This stream is
   * jumped too, so successive splits are pairwise independent.
   */
  split(): Rng {
    this.#g.jump();
    const child = this.#g.clone() as Gen;
    this.#g.jump();
    return new Rng(this.seed, child);
  }
}
