/**
 * Latency distributions for actors (a FUSE server, a disk, a device), as zod-validated configs,
 * sampled from a seeded {@link Rng}. `never` is a latency of ∞: the actor never answers.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import type { Rng } from "./rng.ts";

/**
 * A latency distribution (all times in ns).
 *
 * - `fixed`: always `ns`;
 * - `uniform`: uniform in [minNs, maxNs];
 * - `exponential`: mean `meanNs`;
 * - `lognormal`: given its median and 99th percentile (σ = ln(p99/median) / 2.326);
 * - `never`: ∞ (a hung server).
 *
 * @example
 * ```ts
 * import { Latency, sampleLatency, Rng } from "@mmsim/mmsim";
 * const l = Latency.parse({ kind: "lognormal", medianNs: 1e6, p99Ns: 1e7 });
 * const x = sampleLatency(new Rng(1), l);
 * if (!(x > 0 && Number.isFinite(x))) throw new Error("finite positive sample");
 * if (sampleLatency(new Rng(1), { kind: "never" }) !== Infinity) throw new Error("never = ∞");
 * const bad = Latency.safeParse({ kind: "fixed", ns: -1 });
 * if (bad.success) throw new Error("negative latency must be rejected");
 * ```
 */
export type Latency =
  | { kind: "fixed"; ns: number }
  | { kind: "uniform"; minNs: number; maxNs: number }
  | { kind: "exponential"; meanNs: number }
  | { kind: "lognormal"; medianNs: number; p99Ns: number }
  | { kind: "never" };

const latencySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("fixed"), ns: z.number().min(0) }),
  z.object({
    kind: z.literal("uniform"),
    minNs: z.number().min(0),
    maxNs: z.number().min(0),
  }).refine((o) => o.maxNs >= o.minNs, { message: "maxNs must be ≥ minNs", path: ["maxNs"] }),
  z.object({ kind: z.literal("exponential"), meanNs: z.number().positive() }),
  z.object({
    kind: z.literal("lognormal"),
    medianNs: z.number().positive(),
    p99Ns: z.number().positive(),
  }).refine((o) => o.p99Ns >= o.medianNs, { message: "p99Ns must be ≥ medianNs", path: ["p99Ns"] }),
  z.object({ kind: z.literal("never") }),
]);
const _latencyTypes: Same<z.output<typeof latencySchema>, Latency> = true;
void _latencyTypes;

/** The {@link Latency} schema. */
export const Latency: ConfigSchema<Latency, Latency> = defineConfig("Latency", latencySchema);

const Z99 = 2.3263478740408408;

/**
 * Draw one latency in ns (rounded to an integer; Infinity for `never`).
 *
 * @example
 * ```ts
 * import { Rng, sampleLatency, type Latency } from "@mmsim/mmsim";
 * const disk: Latency = { kind: "uniform", minNs: 100_000, maxNs: 200_000 };
 * const rng = new Rng(7);
 * for (let i = 0; i < 100; i++) {
 *   const ns = sampleLatency(rng, disk);
 *   if (ns < 100_000 || ns > 200_000 || !Number.isInteger(ns)) throw new Error(`${ns}`);
 * }
 * // Same seed, same draws.
 * if (sampleLatency(new Rng(3), disk) !== sampleLatency(new Rng(3), disk)) throw new Error("seeded");
 * ```
 */
export function sampleLatency(rng: Rng, l: Latency): number {
  switch (l.kind) {
    case "fixed":
      return Math.round(l.ns);
    case "uniform":
      return Math.round(l.minNs + rng.float() * (l.maxNs - l.minNs));
    case "exponential":
      return Math.round(rng.exponential(l.meanNs));
    case "lognormal": {
      const sigma = Math.log(l.p99Ns / l.medianNs) / Z99;
      // Box–Muller from two uniform draws.
      const u1 = 1 - rng.float(), u2 = rng.float();
      const n = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      return Math.round(l.medianNs * Math.exp(sigma * n));
    }
    case "never":
      return Infinity;
  }
}

/**
 * The 99th percentile of a distribution (Infinity for `never`).
 *
 * @example
 * ```ts
 * import { latencyP99 } from "@mmsim/mmsim";
 * if (latencyP99({ kind: "lognormal", medianNs: 1e6, p99Ns: 5e7 }) !== 5e7) throw new Error("p99 as given");
 * // Exponential: −ln(0.01) × mean.
 * if (Math.round(latencyP99({ kind: "exponential", meanNs: 1000 })) !== 4605) throw new Error("exp");
 * if (latencyP99({ kind: "never" }) !== Infinity) throw new Error("a hung server has no finite p99");
 * ```
 */
export function latencyP99(l: Latency): number {
  switch (l.kind) {
    case "fixed":
      return l.ns;
    case "uniform":
      return l.minNs + 0.99 * (l.maxNs - l.minNs);
    case "exponential":
      return -l.meanNs * Math.log(0.01);
    case "lognormal":
      return l.p99Ns;
    case "never":
      return Infinity;
  }
}
