/**
 * Seeded Zipf(α) samples over N objects, by rejection-inversion.
 *
 * The method is W. Hörmann and G. Derflinger, "Rejection-inversion to generate variates from
 * monotone discrete distributions", ACM TOMACS 6(3), 1996: invert the integral of a continuous
 * hat function `h(x) = x^-α` and accept the rounded value with a cheap test. It needs O(1)
 * memory and on average little more than one uniform per sample, for every α ≥ 0, α = 1
 * included (the helpers `log1p(x)/x` and `expm1(x)/x` keep the α → 1 limit exact). Not a
 * kernel structure: a workload generator for trace-driven replay.
 *
 * @module
 */

/**
 * A source of uniform floats in [0, 1), such as the engine's `Rng`.
 *
 * @example
 * ```ts
 * import { type FloatSource, Rng, Zipf } from "@mmsim/mmsim";
 * const draw = (src: FloatSource) => {
 *   const zipf = new Zipf(1000, 0.9, src);
 *   return Array.from({ length: 5 }, () => zipf.sampleId());
 * };
 * const a = draw(new Rng(7)), b = draw(new Rng(7));
 * if (a.join() !== b.join()) throw new Error("same seed, same samples");
 * if (!a.every((id) => id >= 0 && id < 1000)) throw new Error(a.join());
 * ```
 */
export interface FloatSource {
  /** A uniform float in [0, 1). */
  float(): number;
}

/** log1p(x) / x, continuous at 0. */
function helper1(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x));
}

/** expm1(x) / x, continuous at 0. */
function helper2(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x));
}

/**
 * Zipf(α) over ranks 1..n: P(k) ∝ k^-α. `sample()` returns a rank in [1, n]; `sampleId()` the
 * object id `rank - 1`, so id 0 is the most popular.
 *
 * @example
 * ```ts
 * let s = 1;
 * const rng = { float: () => ((s = (s * 48271) % 2147483647) - 1) / 2147483646 };
 * const zipf = new Zipf(1_000_000, 1.0, rng);
 * const k = zipf.sample();
 * if (!(k >= 1 && k <= 1_000_000 && Number.isInteger(k))) throw new Error("rank in [1, n]");
 * ```
 */
export class Zipf {
  /** Number of objects. */
  readonly n: number;
  /** Exponent α. */
  readonly alpha: number;
  private readonly rng: FloatSource;
  private readonly hIntegralX1: number;
  private readonly hIntegralN: number;
  private readonly s: number;

  /** Zipf over `n` ≥ 1 objects with exponent `alpha` ≥ 0, drawing uniforms from `rng`. */
  constructor(n: number, alpha: number, rng: FloatSource) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Zipf: n must be >= 1, got ${n}`);
    if (!(alpha >= 0)) throw new RangeError(`Zipf: alpha must be >= 0, got ${alpha}`);
    this.n = n;
    this.alpha = alpha;
    this.rng = rng;
    this.hIntegralX1 = this.hIntegral(1.5) - 1;
    this.hIntegralN = this.hIntegral(n + 0.5);
    this.s = 2 - this.hIntegralInverse(this.hIntegral(2.5) - this.h(2));
  }

  /** A rank in [1, n]. */
  sample(): number {
    const hN = this.hIntegralN, hX1 = this.hIntegralX1, n = this.n;
    for (;;) {
      // u is uniform in (hIntegral(1.5) - 1, hIntegral(n + 0.5)].
      const u = hN + this.rng.float() * (hX1 - hN);
      const x = this.hIntegralInverse(u);
      let k = Math.floor(x + 0.5);
      if (k < 1) k = 1;
      else if (k > n) k = n;
      if (k - x <= this.s || u >= this.hIntegral(k + 0.5) - this.h(k)) return k;
    }
  }

  /** An object id in [0, n): `sample() - 1`. */
  sampleId(): number {
    return this.sample() - 1;
  }

  /** H(x) = ∫ h: ((x^(1-α)) - 1) / (1 - α), or log(x) at α = 1. */
  private hIntegral(x: number): number {
    const logX = Math.log(x);
    return helper2((1 - this.alpha) * logX) * logX;
  }

  /** h(x) = x^-α. */
  private h(x: number): number {
    return Math.exp(-this.alpha * Math.log(x));
  }

  /** H^-1. */
  private hIntegralInverse(x: number): number {
    let t = x * (1 - this.alpha);
    if (t < -1) t = -1; // rounding guard: keeps log1p defined
    return Math.exp(helper1(t) * x);
  }
}

/**
 * The exact Zipf(α) probabilities of ranks 1..n (for tests and small n).
 *
 * @example
 * ```ts
 * const p = zipfPmf(3, 1);
 * if (Math.abs(p[0]! - 6 / 11) > 1e-12) throw new Error("1 / H(3)");
 * ```
 */
export function zipfPmf(n: number, alpha: number): Float64Array {
  const p = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k++) sum += p[k - 1] = Math.pow(k, -alpha);
  for (let i = 0; i < n; i++) p[i]! /= sum;
  return p;
}
