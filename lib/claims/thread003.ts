/**
 * Thread 003 — "Re: [GIT PULL] fscache: I/O API modernisation and netfs helper library" (lkml,
 * 9 Feb 2021): PG_private_2 / PG_fscache lifetime and refcounts, and the 073861ed77b6
 * writeback wakeup leak. Claims C3.1–C3.4 of CLAIMS.md, each with its verdict computed from
 * exhaustive explorations of small worlds (Always / Sometimes / Never) and checked against
 * randomized stress runs (violations per 10⁶ completions vs δ, migration -EAGAIN rate vs
 * cache-write duration).
 *
 * The `c3xEvidence()` functions return everything a claim rests on (explorations, sweep
 * points, the verdict and whether it agrees); the claims' `run()` and the notebook
 * (notebooks/003-fscache-refcounts.ipynb) both call them. Sweeps are memoised per size and
 * seed (they are deterministic), so a claim run and its notebook cell share the work.
 *
 * Not a kernel model; scenarios are in thread003_wb.ts, thread003_netfs.ts and
 * thread003_migrate.ts, figures in thread003_figures.ts, eras and costs in thread003_eras.ts.
 *
 * @module
 */

import { exhaustive } from "../sim/exhaustive.ts";
import { explore, type ExploreResult, type Verdict } from "../sim/explore.ts";
import type { Claim, ClaimOutcome, ClaimRunOptions } from "./registry.ts";
import {
  delaySweepNs,
  REF_WAIT_VARIANTS,
  refWaitLabel,
  type WbRaceResult,
  wbRaceSweep,
  wbRestartRace,
  wbReuseRace,
} from "./thread003_wb.ts";
import {
  type NetfsRaceResult,
  netfsRaceSweep,
  netfsReuseRace,
  PRIVATE2_VARIANTS,
  private2Label,
} from "./thread003_netfs.ts";
import {
  cacheWriteSweepNs,
  migrateDuringCacheWrite,
  type MigrateRaceResult,
  migrateRaceSweep,
} from "./thread003_migrate.ts";

/**
 * How big the stress sweeps are: "quick" (tests), "notebook" (every δ of the figures, fewer
 * completions), "full" (`deno task reproduce`).
 *
 * @example
 * ```ts
 * import { thread003MigratePoints, type Thread003Size } from "@mmsim/mmsim";
 * const size: Thread003Size = "quick"; // the size the claims tests use: 3 cache-write durations
 * const points = thread003MigratePoints({ seed: 1, size });
 * if (new Set(points.map((p) => p.cacheWriteNs)).size !== 3) throw new Error(`${points.length}`);
 * ```
 */
export type Thread003Size = "quick" | "notebook" | "full";

/**
 * Options of the evidence functions.
 *
 * @example
 * ```ts
 * import { c34Evidence, type Thread003Options } from "@mmsim/mmsim";
 * const opts: Thread003Options = { seed: 1, size: "quick" };
 * const ev = c34Evidence(opts);
 * if (!ev.agrees) throw new Error(ev.detail);
 * ```
 */
export interface Thread003Options {
  /** Seed of every stress run. */
  seed: number;
  /** Sweep size (default "full"). */
  size?: Thread003Size;
}

/**
 * What a claim of thread 003 rests on.
 *
 * @example
 * ```ts
 * import { c34Evidence, type MigrateRaceResult, type Thread003Evidence } from "@mmsim/mmsim";
 * const ev: Thread003Evidence<MigrateRaceResult> = c34Evidence({ seed: 1, size: "quick" });
 * // C3.4: one exhaustive exploration per expected-reference rule, and Plot C's points.
 * if (Object.keys(ev.explorations).join() !== "current rule,counted") throw new Error();
 * if (ev.explorations["current rule"]!.verdicts["migration -EAGAIN"] !== "Always") {
 *   throw new Error(ev.verdict);
 * }
 * if (!ev.agrees || ev.points.some((p) => p.useAfterFree !== 0)) throw new Error(ev.detail);
 * ```
 */
export interface Thread003Evidence<P> {
  /** Computed verdict (compare with the claim's `expected`). */
  verdict: string;
  /** Whether verdict and stress figures agree with the claim. */
  agrees: boolean;
  /** Key numbers. */
  figures: Record<string, number | string | boolean>;
  /** Explanation. */
  detail: string;
  /** Explorations by variant label. */
  explorations: Record<string, ExploreResult>;
  /** Stress sweep points. */
  points: P[];
}

const memo = new Map<string, unknown>();
function cached<T>(key: string, make: () => T): T {
  if (!memo.has(key)) memo.set(key, make());
  return memo.get(key) as T;
}

const SWEEP = {
  quick: {
    delays: [1_000, 10_000, 100_000],
    wb: 3000,
    netfs: 2000,
    mig: 200,
    durs: [1e4, 1e5, 1e6],
  },
  notebook: {
    delays: delaySweepNs(true),
    wb: 8000,
    netfs: 4000,
    mig: 400,
    durs: cacheWriteSweepNs(true),
  },
  full: {
    delays: delaySweepNs(true),
    wb: 20_000,
    netfs: 10_000,
    mig: 1000,
    durs: cacheWriteSweepNs(false),
  },
} as const;

/**
 * Plot A's points for a size and seed (memoised).
 *
 * @example
 * ```ts
 * import { thread003WbPoints } from "@mmsim/mmsim";
 * if (thread003WbPoints({ seed: 1, size: "quick" }).length !== 12) throw new Error("4 × 3");
 * ```
 */
export function thread003WbPoints(o: Thread003Options): WbRaceResult[] {
  const s = SWEEP[o.size ?? "full"];
  return cached(
    `wb:${o.size}:${o.seed}`,
    () => wbRaceSweep({ delaysNs: s.delays, completions: s.wb, seed: o.seed }),
  );
}

/**
 * Plot B's points for a size and seed (memoised).
 *
 * @example
 * ```ts
 * import { thread003NetfsPoints } from "@mmsim/mmsim";
 * if (thread003NetfsPoints({ seed: 1, size: "quick" }).length !== 18) throw new Error("6 × 3");
 * ```
 */
export function thread003NetfsPoints(o: Thread003Options): NetfsRaceResult[] {
  const s = SWEEP[o.size ?? "full"];
  return cached(
    `netfs:${o.size}:${o.seed}`,
    () => netfsRaceSweep({ delaysNs: s.delays, completions: s.netfs, seed: o.seed }),
  );
}

/**
 * Plot C's points for a size and seed (memoised).
 *
 * @example
 * ```ts
 * import { thread003MigratePoints } from "@mmsim/mmsim";
 * if (thread003MigratePoints({ seed: 1, size: "quick" }).length !== 6) throw new Error("2 × 3");
 * ```
 */
export function thread003MigratePoints(o: Thread003Options): MigrateRaceResult[] {
  const s = SWEEP[o.size ?? "full"];
  return cached(
    `mig:${o.size}:${o.seed}`,
    () => migrateRaceSweep({ durationsNs: s.durs, attempts: s.mig, seed: o.seed }),
  );
}

const v = (r: ExploreResult, label: string): Verdict => r.verdicts[label] ?? "Never";
const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : 0);
const reachable = (vs: Verdict[]): Verdict =>
  vs.every((x) => x === "Never") ? "Never" : "Sometimes";

function exploreAll<T>(
  key: string,
  variants: readonly T[],
  label: (v: T) => string,
  setup: (v: T) => Parameters<typeof explore>[0],
  stopOnViolation = true,
): Record<string, ExploreResult> {
  const out: Record<string, ExploreResult> = {};
  for (const x of variants) {
    out[label(x)] = cached(
      `ex:${key}:${label(x)}`,
      () => explore(setup(x), { search: exhaustive(), stopOnViolation }),
    );
  }
  return out;
}

/**
 * C3.1's evidence: explorations of {@link wbReuseRace} for the four variants and Plot A.
 *
 * @example
 * ```ts
 * import { c31Evidence } from "@mmsim/mmsim";
 * const ev = c31Evidence({ seed: 1, size: "quick" });
 * if (!ev.agrees) throw new Error(ev.detail);
 * ```
 */
export function c31Evidence(o: Thread003Options): Thread003Evidence<WbRaceResult> {
  const ex = exploreAll("c31", REF_WAIT_VARIANTS, refWaitLabel, wbReuseRace);
  const points = thread003WbPoints(o);
  const rate = (label: string) => points.filter((p) => p.variant === label);
  const bug59 = v(ex["no ref + if"]!, "violation:BUG_ON(PageWriteback)");
  const safe = v(ex["ref + while"]!, "violation");
  const freedRef = reachable(
    ["ref + if", "ref + while"].map((l) => v(ex[l]!, "folio_end_writeback: frame freed during δ")),
  );
  const freedNoRef = v(ex["no ref + while"]!, "folio_end_writeback: frame freed during δ");
  const verdict = `${bug59} → ${safe}`;
  const maxNoRef = maxOf(rate("no ref + if").map((p) => p.violationsPerMillion));
  const maxSafe = maxOf(rate("ref + while").map((p) => p.violationsPerMillion));
  const at10us = rate("no ref + if").find((p) => p.delayNs === 10_000)?.violationsPerMillion ?? 0;
  const agrees = verdict === "Sometimes → Never" && freedRef === "Never" &&
    freedNoRef === "Sometimes" && maxNoRef > 0 && maxSafe === 0;
  return {
    verdict,
    agrees,
    figures: {
      "BUG_ON (no ref + if)": bug59,
      "violations (ref + while)": safe,
      "ref+while per 1e6 (max)": maxSafe,
      "no ref+if per 1e6 at δ=10µs": Math.round(at10us),
      "frame freed in δ (no ref)": freedNoRef,
      "frame freed in δ (ref)": freedRef,
      executions: Object.values(ex).reduce((a, r) => a + r.executions, 0),
    },
    detail:
      `Exhaustive: without the reference and with "if" waiters (v5.9) BUG_ON(PageWriteback) ` +
      `is ${bug59}; the frame is freed during δ ${freedNoRef} without the reference and ` +
      `${freedRef} with it; with the reference and "while" waiters any violation is ${safe}. ` +
      `Stress (${points[0]?.completions ?? 0}+ completions per point): no ref + if peaks at ` +
      `${Math.round(maxNoRef)} violations per 10⁶, ref + while ${maxSafe}. ` +
      `Counterexample: ${ex["no ref + if"]!.counterexample?.replay ?? "none"}.`,
    explorations: ex,
    points,
  };
}

/**
 * C3.2's evidence: explorations of {@link wbRestartRace} and the same Plot A points.
 *
 * @example
 * ```ts
 * import { c32Evidence } from "@mmsim/mmsim";
 * if (!c32Evidence({ seed: 1, size: "quick" }).agrees) throw new Error();
 * ```
 */
export function c32Evidence(o: Thread003Options): Thread003Evidence<WbRaceResult> {
  const ex = exploreAll("c32", REF_WAIT_VARIANTS.slice(2), refWaitLabel, wbRestartRace);
  const points = thread003WbPoints(o);
  const maxRate = (label: string) =>
    maxOf(points.filter((p) => p.variant === label).map((p) => p.violationsPerMillion));
  const ifV = v(ex["ref + if"]!, "violation:BUG_ON(PageWriteback)");
  const whileV = v(ex["ref + while"]!, "violation");
  const refOnly = maxRate("ref + if"), loopOnly = maxRate("no ref + while");
  const both = maxRate("ref + while");
  const alone = refOnly > 0 && loopOnly > 0 ? "> 0" : "0";
  const verdict = `ref + if: ${ifV}; ref + while: ${whileV}; each fix alone ${alone}`;
  const agrees = verdict === "ref + if: Sometimes; ref + while: Never; each fix alone > 0" &&
    both === 0;
  return {
    verdict,
    agrees,
    figures: {
      "BUG_ON (ref + if)": ifV,
      "violations (ref + while)": whileV,
      "ref only per 1e6 (max)": Math.round(refOnly),
      "loop only per 1e6 (max)": Math.round(loopOnly),
      "both per 1e6 (max)": both,
      restartedInDelay: v(ex["ref + if"]!, "writeback restarted in δ"),
    },
    detail: `With the reference, writeback restarted under the folio lock during δ makes an "if" ` +
      `waiter's BUG_ON(PageWriteback) ${ifV}; the "while" loop makes it ${whileV}. Stress: the ` +
      `reference alone leaves ${Math.round(refOnly)} violations per 10⁶ (peak over δ), the ` +
      `loop alone ${Math.round(loopOnly)} (ends touching a freed frame), both ${both}.`,
    explorations: ex,
    points,
  };
}

/**
 * C3.3's evidence: explorations of {@link netfsReuseRace} for the six PG_private_2 designs and
 * Plot B.
 *
 * @example
 * ```ts
 * import { c33Evidence } from "@mmsim/mmsim";
 * if (!c33Evidence({ seed: 1, size: "quick" }).agrees) throw new Error();
 * ```
 */
export function c33Evidence(o: Thread003Options): Thread003Evidence<NetfsRaceResult> {
  const ex = exploreAll("c33", PRIVATE2_VARIANTS, private2Label, netfsReuseRace, false);
  const points = thread003NetfsPoints(o);
  const noRef = PRIVATE2_VARIANTS.filter((x) => !x.ref).map(private2Label);
  const withRef = PRIVATE2_VARIANTS.filter((x) => x.ref).map(private2Label);
  const uaf = (l: string) => v(ex[l]!, "violation:use-after-free");
  const noRefUaf = noRef.every((l) => uaf(l) !== "Never") ? "Sometimes" : "Never";
  const refUaf = reachable(withRef.map(uaf));
  const verdict = `use-after-free — no ref: ${noRefUaf}; ref: ${refUaf}`;
  const sel = (l: string) => points.filter((p) => p.variant === l);
  const uafRef = maxOf(withRef.flatMap((l) => sel(l).map((p) => p.uafPerMillion)));
  const uafNoRef = noRef.map((l) => maxOf(sel(l).map((p) => p.uafPerMillion)));
  const safeViol = maxOf(sel("ref + while").map((p) => p.violationsPerMillion));
  const skipNoRef = maxOf(sel("no ref + while, waits skipped").map((p) => p.uafPerMillion));
  const lostRefSkip = maxOf(sel("ref + while, waits skipped").map((p) => p.lostWaitsPerMillion));
  const refOps = maxOf(
    points.filter((p) => p.variant.startsWith("ref")).map((p) => p.refOpsPerWrite),
  );
  const agrees = verdict === "use-after-free — no ref: Sometimes; ref: Never" && uafRef === 0 &&
    uafNoRef.every((x) => x > 0) && safeViol === 0;
  return {
    verdict,
    agrees,
    figures: {
      "UAF (no ref)": noRefUaf,
      "UAF (ref)": refUaf,
      "ref UAF per 1e6 (max)": uafRef,
      "no ref, waits skipped: UAF per 1e6": Math.round(skipNoRef),
      "ref+while violations per 1e6": safeViol,
      "ref, waits skipped: lost waits per 1e6": Math.round(lostRefSkip),
      "extra refcount ops per cache write": Math.round(refOps * 100) / 100,
    },
    detail: `Exhaustive: a cache write completing into, or waking, a freed or reused frame is ` +
      `reachable for every design without the reference (${
        noRef.map((l) => `${l}: ${uaf(l)}`).join("; ")
      }) ` +
      `and ${refUaf} with it, even when release/invalidate skip the waits. Stress: use-after-free ` +
      `per 10⁶ peaks at ${uafNoRef.map((x) => Math.round(x)).join(" / ")} without the reference ` +
      `and is ${uafRef} with it; ref + while has ${safeViol} violations. Finding beyond the claim: ` +
      `with the reference but a freeing path that skips the waits, nothing is used after free, ` +
      `yet ${
        Math.round(lostRefSkip)
      } lost waits per 10⁶ — a new folio's cache write overlaps the ` +
      `old one's. The reference costs ${refOps.toFixed(2)} refcount operations per cache write.`,
    explorations: ex,
    points,
  };
}

/**
 * C3.4's evidence: explorations of {@link migrateDuringCacheWrite} for both expected-reference
 * rules and Plot C.
 *
 * @example
 * ```ts
 * import { c34Evidence } from "@mmsim/mmsim";
 * if (!c34Evidence({ seed: 1, size: "quick" }).agrees) throw new Error();
 * ```
 */
export function c34Evidence(o: Thread003Options): Thread003Evidence<MigrateRaceResult> {
  const ex = exploreAll(
    "c34",
    [false, true],
    (c) => (c ? "counted" : "current rule"),
    (c) => migrateDuringCacheWrite({ countsPrivate2: c }),
    false,
  );
  const points = thread003MigratePoints(o);
  const cur = ex["current rule"]!, cnt = ex["counted"]!;
  const verdict = `current rule: -EAGAIN ${v(cur, "migration -EAGAIN")}; counted: migrated ${
    v(cnt, "migrated")
  }, lost wait ${v(cnt, "violation:lost wait")}`;
  const curPts = points.filter((p) => !p.variant.startsWith("counted"));
  const cntPts = points.filter((p) => p.variant.startsWith("counted"));
  const increasing = curPts.every((p, i) => i === 0 || p.eagainRate >= curPts[i - 1]!.eagainRate);
  const tracks = curPts.every((p) => Math.abs(p.eagainRate - p.writesInFlightPerPage) < 0.1);
  const longest = cntPts.at(-1);
  const agrees =
    verdict === "current rule: -EAGAIN Always; counted: migrated Always, lost wait Always" &&
    increasing && tracks && cntPts.every((p) => p.eagain === 0) &&
    (longest?.lostWaits ?? 0) > 0 && (longest?.private2Dropped ?? 0) > 0 &&
    points.every((p) => p.useAfterFree === 0);
  return {
    verdict,
    agrees,
    figures: {
      "EAGAIN (current)": v(cur, "migration -EAGAIN"),
      "lost wait (counted)": v(cnt, "violation:lost wait"),
      "EAGAIN rate at longest write": curPts.at(-1)?.eagainRate ?? 0,
      "EAGAIN rate at shortest write": curPts[0]?.eagainRate ?? 0,
      "lost waits per attempt (counted, longest)": longest?.lostWaitsPerAttempt ?? 0,
      "PG_private_2 dropped (counted, longest)": longest?.private2Dropped ?? 0,
    },
    detail: `Current rule (PG_private_2 + ref, not counted): migration during a cache write ` +
      `fails -EAGAIN (${v(cur, "migration -EAGAIN")}); the -EAGAIN rate follows the share of ` +
      `time a cache write is in flight (${curPts.map((p) => p.eagainRate.toFixed(2)).join(", ")} ` +
      `for ${curPts.map((p) => p.cacheWriteNs).join(", ")} ns writes). Counted: the folio ` +
      `migrates (${v(cnt, "migrated")}), PG_private_2 is not carried to the new folio and the ` +
      `next waiter does not wait (lost wait ${v(cnt, "violation:lost wait")}); ` +
      `${longest?.lostWaits ?? 0} lost waits in ${longest?.attempts ?? 0} attempts with the ` +
      `longest writes, cache writes then overlap (${
        longest?.writesInFlightPerPage.toFixed(2) ?? "?"
      } in flight per page).`,
    explorations: ex,
    points,
  };
}

function outcome<P>(ev: Thread003Evidence<P>): ClaimOutcome {
  return { verdict: ev.verdict, agrees: ev.agrees, figures: ev.figures, detail: ev.detail };
}

function size(opts: ClaimRunOptions): Thread003Size {
  return opts.quick ? "quick" : "full";
}

/** The claims of thread 003 (CLAIMS.md C3.1–C3.4). */
export const claims: Claim[] = [
  {
    id: "C3.1",
    thread: "003",
    by: "Linus Torvalds (on Hugh Dickins' 073861ed77b6)",
    statement: "\"the fact that writeback doesn't take a refcount, and then has magic 'if " +
      "writeback is set, don't free' code in other parts of the VM layer has been a problem " +
      "already, when the wakeup ended up 'leaking' from a previous page to a new allocation.\" " +
      "End of writeback is test-and-clear PG_writeback, δ, wake; without a reference the " +
      "frame can be truncated, freed and reused inside δ and the stale wake makes the new " +
      "use's write_cache_pages hit BUG_ON(PageWriteback). With a reference taken before the " +
      "clear and dropped after the wake, violations = 0.",
    assumptions: [
      "physical frames reused across uses (generation-checked); hashed shared folio wait table keyed by frame",
      "allocator under pressure: a freed frame is the next one handed out",
      "no ref + if = v5.9; ref + while = v5.11+ (073861ed77b6 + c2407cf7d22d); the end of I/O runs on its own task",
      "stress: 4 one-page files written, flushed, fsync'ed and truncated with exponential think times",
    ],
    era: "v5.9 (before 073861ed77b6) vs v5.11+",
    expected: "Sometimes → Never",
    run: (opts) => outcome(c31Evidence({ seed: opts.seed, size: size(opts) })),
  },
  {
    id: "C3.2",
    thread: "003",
    by: "Linus Torvalds (c2407cf7d22d)",
    statement: "Even with the reference, another CPU can set PG_writeback again under the page " +
      "lock during δ. A waiter that waits with 'if bit set, wait once' fails; one that loops " +
      "'while bit set, wait' never does. The model needs both fixes; each alone leaves a " +
      "non-zero rate.",
    assumptions: [
      "the folio stays cached; the flusher restarts writeback under the folio lock during δ",
      "wakes are non-exclusive and go through even if the bit was set again (2a9127fcf229)",
    ],
    era: "v5.10 (reference, if-wait) vs v5.11+ (loop)",
    expected: "ref + if: Sometimes; ref + while: Never; each fix alone > 0",
    run: (opts) => outcome(c32Evidence({ seed: opts.seed, size: size(opts) })),
  },
  {
    id: "C3.3",
    thread: "003",
    by: "Linus Torvalds, David Howells",
    statement: '"I think the fscache code needs to hold a refcount regardless, and that the ' +
      'fscache bit is set the page has to have a reference" (Linus); "This may mean that both ' +
      'PG_fscache and PG_writeback need to hold a ref on the page" (David). Without a ' +
      "reference a cache write can complete into a freed or reused frame (use-after-free); " +
      "pairing the bit with a reference makes both counters 0; relying only on " +
      "release/invalidate waits is not enough when any freeing path skips them.",
    assumptions: [
      "netfs readahead holds no folio reference, only the lock (as David describes)",
      "no ref + if = the Feb 2021 posting (set_page_fscache / wait_on_page_fscache); ref + while = v5.13+",
      "waits skipped = netfs_release_folio/netfs_invalidate_folio without the PG_private_2 wait (v6.10 [U])",
      "the model's ->release_folio cannot sleep: it refuses a PG_private_2 folio (kswapd behaviour)",
    ],
    era: "Feb 2021 posting vs v5.13+ (folio_start/end_private_2)",
    expected: "use-after-free — no ref: Sometimes; ref: Never",
    run: (opts) => outcome(c33Evidence({ seed: opts.seed, size: size(opts) })),
  },
  {
    id: "C3.4",
    thread: "003",
    by: "Hugh Dickins, Matthew Wilcox (Sep 2025)",
    statement: "With PG_private_2 paired with +1 reference and folio_expected_ref_count() not " +
      "counting it, migrating a folio during a cache write fails the refcount freeze (-EAGAIN): " +
      "safe, but unmovable for the write's duration. If the expected count did include it, " +
      "migration would succeed while PG_private_2 is not carried to the destination, and the " +
      "wait is lost.",
    assumptions: [
      "the mapping uses filemap_migrate_folio (as ceph [U]); MIGRATE_SYNC attempts",
      "counted = page_has_private() in v5.13–v5.19, or Hugh's dropped 2025 patch",
      "a waiter arriving during the write looks up the folio now cached at that index",
    ],
    era: "v6.0+ (not counted) vs v5.13–v5.19 / Hugh 2025 (counted)",
    expected: "current rule: -EAGAIN Always; counted: migrated Always, lost wait Always",
    run: (opts) => outcome(c34Evidence({ seed: opts.seed, size: size(opts) })),
  },
];
