/**
 * Thread 003 across kernel eras: the stress worlds of thread003_wb.ts, thread003_netfs.ts and
 * thread003_migrate.ts run with the switches of each era side by side (PG_writeback: v5.9,
 * v5.10, v5.11, v6.12; PG_private_2: the Feb 2021 posting, v5.13, v6.10 with the waits removed
 * [U], v6.12; migration: v5.15 (PG_private_2 counted) vs v6.12), and the cost of pairing a bit
 * with a reference: extra atomic refcount operations per I/O (Hugh Dickins' overhead concern).
 *
 * Not a kernel model.
 *
 * @module
 */

import { Engine } from "../sim/engine.ts";
import { kernelEra } from "../mm/era.ts";
import { folioAlloc } from "../mm/folio.ts";
import { Mm } from "../mm/mm.ts";
import { folioEndWriteback, folioStartWriteback } from "../mm/writeback.ts";
import { folioEndPrivate2, folioStartPrivate2, private2Stats } from "../fs/netfs.ts";
import type { Thread003EraRow } from "./thread003_figures.ts";
import type { Thread003Options } from "./thread003.ts";
import { runWbRace } from "./thread003_wb.ts";
import { runNetfsRace } from "./thread003_netfs.ts";
import { runMigrateRace } from "./thread003_migrate.ts";

const COMPLETIONS = { quick: 2000, notebook: 6000, full: 20_000 } as const;

/**
 * The thread's scenarios under each era's switches (δ = 10 µs; cache writes of 100 µs for
 * migration). Rows for {@link thread003EraFigure}.
 *
 * @example
 * ```ts
 * import { thread003Eras } from "@mmsim/mmsim";
 * const rows = thread003Eras({ seed: 1, size: "quick" });
 * const wb = (era: string) => rows.find((r) => r.scenario === "PG_writeback" && r.era === era)!;
 * if (!(wb("5.9").perMillion > 0) || wb("6.12").perMillion !== 0) throw new Error();
 * ```
 */
export function thread003Eras(o: Thread003Options): Thread003EraRow[] {
  const n = COMPLETIONS[o.size ?? "full"];
  const rows: Thread003EraRow[] = [];
  for (const version of ["5.9", "5.10", "5.11", "6.12"]) {
    const e = kernelEra(version);
    const r = runWbRace({
      ref: e.endWritebackTakesRef,
      loop: e.waitWritebackLoops,
      delayNs: 10_000,
      completions: n,
      seed: o.seed,
    });
    rows.push({
      scenario: "PG_writeback",
      era: version,
      metric: "violations",
      perMillion: r.violationsPerMillion,
    });
  }
  const p2 = kernelEra("5.13").private2TakesRef;
  const now = kernelEra("6.12").private2TakesRef;
  for (
    const [era, ref, releaseWaits] of [
      ["Feb 2021 posting", false, true],
      ["5.13", p2, true],
      ["6.10 [U]", p2, false],
      ["6.12", now, true],
    ] as const
  ) {
    const r = runNetfsRace({
      ref,
      loop: ref,
      releaseWaits,
      delayNs: 10_000,
      completions: Math.round(n / 2),
      seed: o.seed,
    });
    rows.push({
      scenario: "PG_private_2",
      era,
      metric: "violations + use-after-free",
      perMillion: r.violationsPerMillion + r.uafPerMillion,
    });
    rows.push({
      scenario: "PG_private_2",
      era,
      metric: "lost waits",
      perMillion: r.lostWaitsPerMillion,
    });
  }
  for (const version of ["5.15", "6.12"]) {
    const r = runMigrateRace({
      countsPrivate2: kernelEra(version).migrateCountsPrivate2,
      cacheWriteNs: 100_000,
      attempts: Math.round(n / 20),
      seed: o.seed,
    });
    rows.push({
      scenario: "migration",
      era: version,
      metric: "-EAGAIN per 10⁶ attempts",
      perMillion: r.eagainRate * 1e6,
    });
    rows.push({
      scenario: "migration",
      era: version,
      metric: "lost waits per 10⁶ attempts",
      perMillion: r.lostWaitsPerAttempt * 1e6,
    });
  }
  return rows;
}

/**
 * One row of {@link thread003RefCost}.
 *
 * @example
 * ```ts
 * import { type RefCostRow, thread003RefCost } from "@mmsim/mmsim";
 * const rows: RefCostRow[] = thread003RefCost();
 * const withRef = rows.filter((r) => r.design.startsWith("reference"));
 * // A reference paired with the bit costs one folio_get and one folio_put per I/O.
 * if (withRef.length !== 2 || withRef.some((r) => r.extraRefOpsPerIo !== 2)) {
 *   throw new Error(JSON.stringify(rows));
 * }
 * if (rows.map((r) => r.bit).join() !== "PG_writeback,PG_writeback,PG_private_2,PG_private_2") {
 *   throw new Error("both bits");
 * }
 * ```
 */
export interface RefCostRow {
  /** "PG_writeback" or "PG_private_2". */
  bit: string;
  /** "no reference …" or "reference …", with the era or commit, e.g. "reference (v5.13+)". */
  design: string;
  /** Extra atomic refcount operations per I/O (folio_get + folio_put). */
  extraRefOpsPerIo: number;
  /** How it was measured. */
  measured: string;
}

/**
 * The cost of pairing the bit with a reference, measured on one I/O each: for PG_writeback the
 * reference folio_end_writeback holds during δ (sampled by a probe in the middle of δ; a
 * get and a put per reference), for PG_private_2 the folio_get/folio_put calls counted by
 * folio_start_private_2/folio_end_private_2.
 *
 * @example
 * ```ts
 * import { thread003RefCost } from "@mmsim/mmsim";
 * const rows = thread003RefCost();
 * if (rows.map((r) => r.extraRefOpsPerIo).join() !== "0,2,0,2") throw new Error(JSON.stringify(rows));
 * ```
 */
export function thread003RefCost(): RefCostRow[] {
  const rows: RefCostRow[] = [];
  for (const ref of [false, true]) {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 16 }, era: { endWritebackTakesRef: ref } });
    const f = folioAlloc(mm, 0);
    folioStartWriteback(mm, f);
    const before = mm.mem.refcount[f]!;
    let during = before;
    env.spawn("end_io", function* () {
      yield* folioEndWriteback(mm, f, { delayNs: 100 });
    });
    env.spawn("probe", function* (e) {
      yield e.sleep(50);
      during = mm.mem.refcount[f]!;
    });
    env.run();
    rows.push({
      bit: "PG_writeback",
      design: ref ? "reference (073861ed77b6)" : "no reference (≤ v5.9)",
      extraRefOpsPerIo: 2 * (during - before),
      measured: "refcount held during δ × (get + put)",
    });
  }
  for (const ref of [false, true]) {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 16 } });
    const f = folioAlloc(mm, 0);
    const r = mm.ref(f);
    folioStartPrivate2(mm, f, { takeRef: ref });
    env.spawn("cache write", function* (e) {
      yield e.sleep(100);
      yield* folioEndPrivate2(mm, r, { takeRef: ref, delayNs: 10 });
    });
    env.run();
    rows.push({
      bit: "PG_private_2",
      design: ref ? "reference (v5.13+)" : "no reference (Feb 2021)",
      extraRefOpsPerIo: private2Stats(mm).refOps,
      measured: "folio_get/folio_put calls counted by start and end",
    });
  }
  return rows;
}
