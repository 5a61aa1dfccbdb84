/**
 * Shared pieces of thread 000's evidence functions: run sizes, options, the evidence shape and
 * the memo. Private to lib/claims (the public names are re-exported by thread000.ts).
 *
 * @module
 */

import type { ExploreResult, Verdict } from "../sim/explore.ts";

/**
 * How big the runs are: "quick" (tests), "notebook", "full" (`deno task reproduce`).
 *
 * @example
 * ```ts
 * import { c03Evidence, type Thread000Size } from "@mmsim/mmsim";
 * const size: Thread000Size = "quick"; // the size the claims tests use
 * const ev = c03Evidence({ seed: 1, size });
 * if (!ev.agrees || ev.data.points.length === 0) throw new Error(ev.detail);
 * ```
 */
export type Thread000Size = "quick" | "notebook" | "full";

/**
 * Options of the evidence functions.
 *
 * @example
 * ```ts
 * import { c05Evidence, type Thread000Options } from "@mmsim/mmsim";
 * const opts: Thread000Options = { seed: 1, size: "quick" };
 * const ev = c05Evidence(opts);
 * if (!ev.agrees) throw new Error(ev.detail);
 * ```
 */
export interface Thread000Options {
  /** Seed of every run. */
  seed: number;
  /** Size (default "full"). */
  size?: Thread000Size;
}

/**
 * What a claim of thread 000 rests on.
 *
 * @example
 * ```ts
 * import { type C05Data, c05Evidence, type Thread000Evidence } from "@mmsim/mmsim";
 * const ev: Thread000Evidence<C05Data> = c05Evidence({ seed: 1, size: "quick" });
 * // The temp page costs two copies per page in all (folio → temp page → server), /dev/fuse one.
 * if (ev.figures.tempMemcpyTotalPerPage !== 2 || ev.figures.devMemcpyTotalPerPage !== 1) {
 *   throw new Error(ev.verdict);
 * }
 * if (!ev.agrees || ev.data.variants.length !== 3) throw new Error(ev.detail);
 * ```
 */
export interface Thread000Evidence<P> {
  /** Computed verdict (compare with the claim's `expected`). */
  verdict: string;
  /** Whether the measurements agree with the claim. */
  agrees: boolean;
  /** Key numbers. */
  figures: Record<string, number | string | boolean>;
  /** Explanation. */
  detail: string;
  /** The data behind the figure(s). */
  data: P;
}

const memo = new Map<string, unknown>();
export function cached<T>(key: string, make: () => T): T {
  if (!memo.has(key)) memo.set(key, make());
  return memo.get(key) as T;
}

export const MS = 1e6;
export const SIZES = {
  quick: {
    p99s: [1, 30, 300].map((x) => x * MS),
    seeds: 1,
    deadlines: [100 * MS, 1000 * MS],
    explore: "random" as const,
    executions: 300,
    latencies: [1 * MS, 5 * MS, 10 * MS],
    streams: [1, 4],
    streamNs: 200 * MS,
  },
  notebook: {
    p99s: [1, 3, 10, 30, 100, 300, 1000].map((x) => x * MS),
    seeds: 2,
    deadlines: [100 * MS, 1000 * MS, 10_000 * MS],
    explore: "random" as const,
    executions: 600,
    latencies: [1, 2, 5, 10].map((x) => x * MS),
    streams: [1, 2, 4],
    streamNs: 200 * MS,
  },
  full: {
    p99s: [1, 3, 10, 30, 100, 300, 1000].map((x) => x * MS),
    seeds: 5,
    deadlines: [100 * MS, 1000 * MS, 10_000 * MS],
    explore: "exhaustive" as const,
    executions: 0,
    latencies: [1, 2, 5, 10, 20].map((x) => x * MS),
    streams: [1, 2, 4],
    streamNs: 200 * MS,
  },
} as const;

export const seedsOf = (o: Thread000Options) =>
  Array.from({ length: SIZES[o.size ?? "full"].seeds }, (_, i) => o.seed + i);

/** The verdict of `label` in an exploration ("Never" when it was never recorded). */
export const verdictOf = (r: ExploreResult, label: string): Verdict => r.verdicts[label] ?? "Never";
