/**
 * Thread 003 scenarios for migration during a cache write (claim C3.4): PG_private_2 paired
 * with a reference, and `folio_expected_ref_count()` that does not count PG_private_2 (v6.0+,
 * era switch `migrateCountsPrivate2` false) — the refcount freeze of `folio_migrate_mapping`
 * fails with -EAGAIN for as long as the cache write lasts — against the counter-variant that
 * counts it (page_has_private() in v5.13–v5.19, and Hugh Dickins' dropped Sep 2025 patch): the
 * folio migrates, `folio_migrate_flags` does not carry PG_private_2 to the new folio, and the
 * next waiter on the new folio does not wait for the write still in flight on the old one
 * (netfs.ts's lost-wait checker).
 *
 * - {@link migrateDuringCacheWrite}: a small world for exhaustive exploration.
 * - {@link runMigrateRace}: cache writes of a fixed duration on a few folios, separated by
 *   exponential gaps, and MIGRATE_SYNC migration attempts at exponential intervals; measures
 *   the -EAGAIN rate per attempt and lost waits.
 *
 * The mapping uses `filemap_migrate_folio` (as ceph's address_space_operations do [U]); with
 * `fallback_migrate_folio` the release would refuse the folio instead.
 *
 * Not a kernel model itself; it composes lib/fs/netfs.ts and lib/mm/migrate.ts.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import { Engine, type Process } from "../sim/engine.ts";
import type { Setup } from "../sim/explore.ts";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import { type AddressSpace, filemapGetEntry } from "../mm/address_space.ts";
import { Mm } from "../mm/mm.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../mm/migrate.ts";
import { Netfs } from "../fs/netfs.ts";
import {
  grid,
  logSweep,
  readIn,
  spawnEvery,
  thinkNs,
  writeIndexToCache,
} from "./_thread003_common.ts";

/** One MIGRATE_SYNC migration attempt of the folio at `index`: its rc, or null if none. */
function* migrateOne(mm: Mm, file: AddressSpace, index: number): Process<string | null> {
  const f = filemapGetEntry(file, index);
  if (f < 0 || !isolateFolioForMigration(mm, f)) return null;
  const r = yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_SYNC", "MR_COMPACTION");
  putbackMovablePages(mm, r.failed);
  return r.outcomes[0]?.rc ?? null;
}

/**
 * C3.4 in a small world: a folio read at t = 10 ns is copied to the cache until t = 1010 ns
 * (PG_private_2 + its reference, v5.13+); a MIGRATE_SYNC migration is attempted at t = 100 ns;
 * at t = 200 ns a writer locks the folio now cached at that index and waits for PG_private_2
 * before writing it to the cache again. Labels: "migration -EAGAIN", "migrated",
 * "PG_private_2 dropped by migration", and the violation `lost wait`.
 *
 * @example
 * ```ts
 * import { explore, exhaustive, migrateDuringCacheWrite } from "@mmsim/mmsim";
 * const r = explore(migrateDuringCacheWrite({ countsPrivate2: false }), { search: exhaustive() });
 * if (r.verdicts["migration -EAGAIN"] !== "Always") throw new Error(JSON.stringify(r.verdicts));
 * ```
 */
export function migrateDuringCacheWrite(opts: { countsPrivate2: boolean }): Setup {
  return (env: Engine) => {
    const mm = new Mm(env, {
      memory: { nrFrames: 64 },
      era: { private2TakesRef: true, migrateCountsPrivate2: opts.countsPrivate2 },
    });
    const fs = new Netfs(mm, {
      serverLatency: { kind: "fixed", ns: 10 },
      cacheWriteLatency: { kind: "fixed", ns: 1000 },
    });
    const file = fs.createFile({ name: "ceph file", fillPages: 1 });
    readIn(mm, fs, file, 1);
    env.spawn("migrate", function* (env) {
      yield env.sleep(100);
      const rc = yield* migrateOne(mm, file, 0);
      env.sometimes("migration -EAGAIN", rc === "EAGAIN");
      env.sometimes("migrated", rc === "MIGRATEPAGE_SUCCESS");
    });
    env.spawn("write to cache", function* (env) {
      yield env.sleep(200);
      yield* writeIndexToCache(mm, fs, file, 0);
    });
    return {
      outcome: () => ({
        "PG_private_2 dropped by migration": mm.vmstat.get("migrate_private_2_dropped") > 0,
      }),
    };
  };
}

/**
 * The stress world of {@link runMigrateRace}.
 *
 * @example
 * ```ts
 * import { MigrateRaceConfig } from "@mmsim/mmsim";
 * const c = MigrateRaceConfig.parse({ cacheWriteNs: 1e5 });
 * if (c.countsPrivate2 || c.pages !== 4 || c.gapNs !== 100_000) throw new Error();
 * ```
 */
export interface MigrateRaceConfig {
  /** folio_expected_ref_count() counts PG_private_2 (v5.13–v5.19; Hugh's 2025 patch). */
  countsPrivate2: boolean;
  /** Duration of one cache write, ns. */
  cacheWriteNs: number;
  /** Mean gap between a page's cache writes (exponential), ns. */
  gapNs: number;
  /** Pages of the file (each written to the cache in turn by its own task). */
  pages: number;
  /** Mean time between migration attempts (exponential), ns. */
  migrateIntervalNs: number;
  /** Stop after this many migration attempts. */
  attempts: number;
  /** Seed. */
  seed: number;
}

/**
 * Input of {@link MigrateRaceConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { MigrateRaceConfig, type MigrateRaceConfigInput, runMigrateRace } from "@mmsim/mmsim";
 * // v5.13–v5.19: folio_expected_ref_count() counts PG_private_2, so migration does not back off.
 * const input: MigrateRaceConfigInput = { countsPrivate2: true, cacheWriteNs: 1e6, attempts: 50 };
 * if (MigrateRaceConfig.parse(input).pages !== 4) throw new Error("default: 4 pages");
 * const r = runMigrateRace(input);
 * if (!r.variant.startsWith("counted") || r.attempts !== 50) throw new Error(r.variant);
 * if (r.private2Dropped > r.migrated) throw new Error("a dropped bit needs a migration");
 * ```
 */
export type MigrateRaceConfigInput = Partial<MigrateRaceConfig>;

const migrateRaceSchema = z.object({
  countsPrivate2: z.boolean().default(false),
  cacheWriteNs: z.number().int().positive().default(100_000),
  gapNs: z.number().positive().default(100_000),
  pages: z.number().int().min(1).default(4),
  migrateIntervalNs: z.number().positive().default(50_000),
  attempts: z.number().int().positive().default(2000),
  seed: z.number().int().default(1),
});
const _migrateRaceTypes: Same<z.output<typeof migrateRaceSchema>, MigrateRaceConfig> = true;
void _migrateRaceTypes;

/** The {@link MigrateRaceConfig} schema. */
export const MigrateRaceConfig: ConfigSchema<MigrateRaceConfig, MigrateRaceConfigInput> =
  defineConfig("MigrateRaceConfig", migrateRaceSchema);

/**
 * What one {@link runMigrateRace} measured.
 *
 * @example
 * ```ts
 * import { type MigrateRaceResult, runMigrateRace } from "@mmsim/mmsim";
 * const r: MigrateRaceResult = runMigrateRace({ cacheWriteNs: 1e6, attempts: 50 }); // v6.0+ rule
 * if (r.eagainRate !== r.eagain / r.attempts) throw new Error("per attempt");
 * if (r.lostWaitsPerAttempt !== r.lostWaits / r.attempts) throw new Error("per attempt");
 * // The current rule never migrates a folio under a cache write: no bit is dropped.
 * if (r.private2Dropped !== 0 || r.useAfterFree !== 0) throw new Error(JSON.stringify(r));
 * ```
 */
export interface MigrateRaceResult {
  /** "current rule (v6.0+)" or "counted (v5.13–5.19, Hugh 2025)". */
  variant: string;
  /** Cache write duration, ns. */
  cacheWriteNs: number;
  /** Migration attempts. */
  attempts: number;
  /** Attempts that ended in -EAGAIN. */
  eagain: number;
  /** Attempts that migrated the folio. */
  migrated: number;
  /** -EAGAIN per attempt. */
  eagainRate: number;
  /** Cache writes in flight per page, time-averaged (measured; > 1 when writes overlap). */
  writesInFlightPerPage: number;
  /** Folios migrated with PG_private_2 set (the bit not carried: migrate_private_2_dropped). */
  private2Dropped: number;
  /** Lost waits recorded by the netfs checker. */
  lostWaits: number;
  /** Lost waits per migration attempt. */
  lostWaitsPerAttempt: number;
  /** Use-after-free violations (none expected: the old folio keeps its reference). */
  useAfterFree: number;
}

/**
 * Run the migration stress world once.
 *
 * @example
 * ```ts
 * import { runMigrateRace } from "@mmsim/mmsim";
 * const r = runMigrateRace({ cacheWriteNs: 1_000_000, attempts: 100 });
 * if (!(r.eagainRate > 0.5) || r.lostWaits !== 0) throw new Error(JSON.stringify(r));
 * ```
 */
export function runMigrateRace(input: MigrateRaceConfigInput = {}): MigrateRaceResult {
  const c = MigrateRaceConfig.parse(input);
  const env = new Engine({ seed: c.seed });
  const mm = new Mm(env, {
    memory: { nrFrames: 256 },
    era: { private2TakesRef: true, migrateCountsPrivate2: c.countsPrivate2 },
  });
  const fs = new Netfs(mm, {
    serverLatency: { kind: "fixed", ns: 1000 },
    cacheWriteLatency: { kind: "fixed", ns: c.cacheWriteNs },
    copyToCache: false,
  });
  const file = fs.createFile({ name: "ceph file", fillPages: c.pages });
  readIn(mm, fs, file, c.pages);
  let attempts = 0, eagain = 0, migrated = 0;
  let busyNs = 0;
  for (let i = 0; i < c.pages; i++) {
    // Starting after the read (2 µs).
    spawnEvery(env, `cachewriter${i}`, c.gapNs, () => writeIndexToCache(mm, fs, file, i), 2000);
  }
  env.spawn("migrate", function* (e, self) {
    yield e.sleep(2000);
    while (attempts < c.attempts) {
      yield e.sleep(thinkNs(self.rng, c.migrateIntervalNs));
      const rc = yield* migrateOne(mm, file, self.rng.int(c.pages));
      if (rc === null) continue;
      attempts++;
      if (rc === "EAGAIN") eagain++;
      if (rc === "MIGRATEPAGE_SUCCESS") migrated++;
    }
    e.stop();
  });
  // How many cache writes are in flight, sampled four times per write.
  let samples = 0;
  const every = Math.max(250, Math.min(10_000, Math.floor(c.cacheWriteNs / 4)));
  env.spawn("sampler", function* (e) {
    for (;;) {
      yield e.sleep(every);
      busyNs += fs.inflight.size;
      samples++;
    }
  }, { daemon: true });
  const run = env.run({ stopOnViolation: false, maxSteps: 5_000_000 });
  const uaf = run.violations.filter((v) => v.name === "use-after-free").length;
  return {
    variant: c.countsPrivate2 ? "counted (v5.13–5.19, Hugh 2025)" : "current rule (v6.0+)",
    cacheWriteNs: c.cacheWriteNs,
    attempts,
    eagain,
    migrated,
    eagainRate: attempts > 0 ? eagain / attempts : 0,
    writesInFlightPerPage: samples > 0 ? busyNs / samples / c.pages : 0,
    private2Dropped: mm.vmstat.get("migrate_private_2_dropped"),
    lostWaits: fs.stats.lostWaits,
    lostWaitsPerAttempt: attempts > 0 ? fs.stats.lostWaits / attempts : 0,
    useAfterFree: uaf,
  };
}

/**
 * Cache-write durations of Plot C: 1 µs … 10 ms (quick: a decade apart).
 *
 * @example
 * ```ts
 * import { cacheWriteSweepNs } from "@mmsim/mmsim";
 * if (cacheWriteSweepNs(true).join() !== "1000,10000,100000,1000000,10000000") throw new Error();
 * ```
 */
export function cacheWriteSweepNs(quick: boolean): number[] {
  return logSweep(3, 7, quick);
}

/**
 * Plot C's data: {@link runMigrateRace} for both expected-reference rules × durations.
 *
 * @example
 * ```ts
 * import { migrateRaceSweep } from "@mmsim/mmsim";
 * const pts = migrateRaceSweep({ durationsNs: [100_000], attempts: 50, seed: 1 });
 * if (pts.length !== 2) throw new Error();
 * ```
 */
export function migrateRaceSweep(opts: {
  durationsNs: readonly number[];
  attempts: number;
  seed: number;
}): MigrateRaceResult[] {
  return grid(
    [false, true],
    opts.durationsNs,
    (countsPrivate2, cacheWriteNs) =>
      runMigrateRace({ countsPrivate2, cacheWriteNs, attempts: opts.attempts, seed: opts.seed }),
  );
}
