/**
 * Thread 000's prediction for the real-kernel cross-check (crosscheck/, experiment
 * "hung-read-compaction"): READs that never complete, then `echo 1 >
 * /proc/sys/vm/compact_memory`, which runs `compact_nodes` → `compact_node` with MIGRATE_SYNC
 * (mm/compaction.c, read at torvalds/linux 0003e2a4, a v6.7 tree, and in the v6.12+
 * `compact_node(pgdat, proactive)` form: `proactive ? MIGRATE_SYNC_LIGHT : MIGRATE_SYNC`, the
 * sysctl passing proactive = false; only kcompactd's proactive compaction uses
 * MIGRATE_SYNC_LIGHT). Computed by simulation with the FUSE read side of v6.16 and the mm model
 * of the given version.
 *
 * Not a kernel model; it composes lib/mm and lib/fs/fuse*.ts.
 *
 * @module
 */

import { Engine } from "../sim/engine.ts";
import { filemapGetEntry, type MigrateMode } from "../mm/address_space.ts";
import { compactMemory } from "../mm/compaction.ts";
import { folioAlloc, folioPut } from "../mm/folio.ts";
import { MIGRATE, PG } from "../mm/memory.ts";
import { Mm } from "../mm/mm.ts";
import { FuseMount } from "../fs/fuse.ts";
import { FuseReadSide } from "../fs/fuse_read.ts";

/**
 * The model's outcome of the "hung-read-compaction" cross-check experiment.
 *
 * @example
 * ```ts
 * import { type HungReadCompactionPrediction, predictHungReadCompaction } from "@mmsim/mmsim";
 * const p: HungReadCompactionPrediction = predictHungReadCompaction("6.1");
 * if (p.hungPageMoved || !p.compactionBlocked) throw new Error("compaction waits on the lock");
 * if (!p.waits.includes("compact_memory") || !p.waits.includes("FUSE_READ")) {
 *   throw new Error(p.waits);
 * }
 * ```
 */
export interface HungReadCompactionPrediction {
  /** Some locked, not-uptodate readahead folio changed frame while its READ hung. */
  hungPageMoved: boolean;
  /** compact_memory had not returned 8 s after it started. */
  compactionBlocked: boolean;
  /** The migration mode compact_memory used. */
  mode: MigrateMode;
  /** The wait-for report of the blocked compaction, if any. */
  waits: string;
}

/**
 * The model's prediction for crosscheck experiment "hung-read-compaction" on kernel `version`
 * ("major.minor"): a FUSE file whose READs never complete; a 256 KiB read(2) at offset 0 starts
 * readahead (the window's folios locked and not uptodate); memory filled with anonymous-like
 * pages, released below the hung folios and every other one above, so the migrate scanner
 * reaches them; then `compact_memory` (MIGRATE_SYNC) runs for 8 s. Computed by simulation.
 *
 * @example
 * ```ts
 * import { predictHungReadCompaction } from "@mmsim/mmsim";
 * const p = predictHungReadCompaction("6.12");
 * if (p.hungPageMoved || !p.compactionBlocked || p.mode !== "MIGRATE_SYNC") throw new Error();
 * ```
 */
export function predictHungReadCompaction(version: string): HungReadCompactionPrediction {
  const env = new Engine({ seed: 1 });
  const mm = new Mm(env, {
    memory: { nrFrames: 4096 },
    zone: { minFreeKbytes: 0 },
    version,
  });
  const mount = new FuseMount(mm, {
    server: { threads: 4, latency: { kind: "fixed", ns: 0 } },
  });
  const rs = new FuseReadSide(mount, { latency: { kind: "never" } });
  const contents = new Map<number, number>();
  for (let i = 0; i < 256; i++) contents.set(i, 7000 + i);
  const fi = rs.createInode(contents);
  // Anonymous-like filler of the lower part of memory, so the read's folios land above it.
  const low: number[] = [];
  for (let i = 0; i < 1024; i++) low.push(folioAlloc(mm, 0, MIGRATE.MOVABLE));
  env.spawn("reader", function* () {
    yield* rs.read(fi, 0, 64); // 256 KiB: blocks on page 0 for ever
  });
  env.run({ maxTimeNs: 1000 });
  const hung = new Map<number, number>(); // index → pfn
  for (let i = 0; i < 256; i++) {
    const f = filemapGetEntry(fi.mapping, i);
    if (f >= 0 && mm.mem.testFlag(f, PG.locked) && !mm.mem.testFlag(f, PG.uptodate)) {
      hung.set(i, f);
    }
  }
  // Fill the rest; release everything below the hung folios and every other page above.
  const high: number[] = [];
  for (;;) {
    const f = folioAlloc(mm, 0, MIGRATE.MOVABLE);
    if (f < 0) break;
    high.push(f);
  }
  const minHung = Math.min(...hung.values());
  for (const f of low) if (f < minHung) folioPut(mm, f);
  high.forEach((f, k) => {
    if (f < minHung || k % 2 === 0) folioPut(mm, f);
  });
  let returned = false;
  const mode: MigrateMode = "MIGRATE_SYNC"; // compact_node(pgdat, false)
  env.spawn("echo 1 > /proc/sys/vm/compact_memory", function* () {
    yield* compactMemory(mm);
    returned = true;
  });
  const res = env.run({ maxTimeNs: env.nowNs + 8e9 });
  let moved = false;
  for (const [i, f] of hung) if (filemapGetEntry(fi.mapping, i) !== f) moved = true;
  return {
    hungPageMoved: moved,
    compactionBlocked: !returned,
    mode,
    waits: returned ? "" : res.waits?.text ?? `run ended: ${res.reason}`,
  };
}
