/**
 * Compaction at scale: a zone of 16 Mi frames (64 GiB of 4 KiB pages) fragmented by
 * lib/mm/fragment.ts (50 % in use, all of the free memory in blocks below pageblock order,
 * the generator's default mix: 80 % movable, 15 % unmovable, 5 % reclaimable allocations of
 * orders 0–3), its movable folios made PTE-mapped anonymous folios on the LRU
 * (`lruAddFragmentFolios`), then compacted in one process by the engine:
 *
 * 1. direct compaction for one order-9 (THP) allocation: `compactZone`, MIGRATE_SYNC_LIGHT,
 *    until COMPACT_SUCCESS;
 * 2. /proc/sys/vm/compact_memory: `compactMemory`, MIGRATE_SYNC over the whole zone until the
 *    scanners meet.
 *
 * Reported per phase: wall time, frames visited by the two scanners per second (the kernel's
 * compact_migrate_scanned + compact_free_scanned), pages migrated per second, engine steps,
 * the unusable free space index for order 9 and the free blocks of order ≥ 9 before and
 * after, and the resident set size.
 *
 * Run: `deno run bench/compaction_bench.ts [nrFrames]` (default 16777216), or
 * `deno bench bench/compaction_bench.ts` for a 1 Mi-frame `deno bench` case.
 *
 * @module
 */

import { Engine } from "../lib/sim/engine.ts";
import { Rng } from "../lib/sim/rng.ts";
import { Mm } from "../lib/mm/mm.ts";
import { checkBuddy } from "../lib/mm/buddy_check.ts";
import { buddyinfo, fragmentZone, unusableFreeIndex } from "../lib/mm/fragment.ts";
import { GFP_HIGHUSER_MOVABLE } from "../lib/mm/page_alloc.ts";
import { CompactControl } from "../lib/mm/compact_control.ts";
import { compactMemory, compactZone, lruAddFragmentFolios } from "../lib/mm/compaction.ts";

/** A fragmented Mm of `nrFrames` frames with its movable folios on the LRU. */
export function fragmentedMm(nrFrames: number, seed = 2026): { env: Engine; mm: Mm } {
  const env = new Engine({ seed });
  const mm = new Mm(env, { memory: { nrFrames }, zone: { minFreeKbytes: 0 } });
  fragmentZone(mm.zone, new Rng(seed), { utilisation: 0.5, fragmentation: 1 });
  lruAddFragmentFolios(mm);
  return { env, mm };
}

/** Free blocks of order ≥ `order`. */
function blocksAtLeast(mm: Mm, order: number): number {
  return buddyinfo(mm.zone).slice(order).reduce((a, b) => a + b, 0);
}

/** One compaction phase's figures. */
export interface PhaseFigures {
  /** Result of the phase. */
  result: string;
  /** Wall time in s. */
  seconds: number;
  /** Frames visited by both scanners. */
  scanned: number;
  /** Pages migrated. */
  migrated: number;
  /** Engine steps. */
  steps: number;
  /** Simulated time in ns. */
  simNs: number;
}

/** Run one compaction phase in the engine and measure it. */
export function runPhase(env: Engine, mm: Mm, phase: "order9" | "compact_memory"): PhaseFigures {
  const scanned0 = mm.vmstat.get("compact_migrate_scanned") + mm.vmstat.get("compact_free_scanned");
  const migrated0 = mm.vmstat.get("pgmigrate_success");
  const steps0 = env.steps, sim0 = env.nowNs;
  let result = "";
  env.spawn(phase, function* () {
    if (phase === "order9") {
      const cc = new CompactControl(mm, {
        order: 9,
        mode: "MIGRATE_SYNC_LIGHT",
        gfpMask: GFP_HIGHUSER_MOVABLE,
        directCompaction: true,
      });
      result = yield* compactZone(mm, cc);
    } else {
      yield* compactMemory(mm);
      result = "scanners met";
    }
  });
  const t0 = performance.now();
  const r = env.run({ maxSteps: 100_000_000 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.reason !== "done") throw new Error(`compaction run ended: ${r.reason}`);
  if (r.violations.length) throw new Error(`violation: ${r.violations[0]!.message}`);
  return {
    result,
    seconds,
    scanned: mm.vmstat.get("compact_migrate_scanned") + mm.vmstat.get("compact_free_scanned") -
      scanned0,
    migrated: mm.vmstat.get("pgmigrate_success") - migrated0,
    steps: env.steps - steps0,
    simNs: env.nowNs - sim0,
  };
}

function rssMiB(): number {
  return Deno.memoryUsage().rss / 2 ** 20;
}

function report(label: string, mm: Mm, f: PhaseFigures | null): void {
  const base = `${label.padEnd(30)} unusable(9) ${
    String(unusableFreeIndex(mm.zone, 9)).padStart(4)
  }  free blocks ≥ order 9: ${String(blocksAtLeast(mm, 9)).padStart(6)}  RSS ${
    rssMiB().toFixed(0)
  } MiB`;
  console.log(base);
  if (f) {
    console.log(
      `${"".padEnd(30)} ${f.result}: ${f.seconds.toFixed(2)} s wall, ` +
        `${(f.scanned / 1e6).toFixed(2)} M frames scanned (${
          (f.scanned / f.seconds / 1e6).toFixed(1)
        } M/s), ${(f.migrated / 1e6).toFixed(3)} M pages migrated (${
          (f.migrated / f.seconds / 1e6).toFixed(2)
        } M/s), ${f.steps} steps, ${(f.simNs / 1e6).toFixed(1)} ms simulated`,
    );
  }
}

if (import.meta.main) {
  const nrFrames = Number(Deno.args[0] ?? 16 << 20);
  console.log(`${nrFrames} frames of 4 KiB = ${(nrFrames * 4096 / 2 ** 30).toFixed(1)} GiB`);
  let t = performance.now();
  const { env, mm } = fragmentedMm(nrFrames);
  console.log(`fragmented in ${((performance.now() - t) / 1000).toFixed(2)} s`);
  report("fragmented", mm, null);
  const order9 = runPhase(env, mm, "order9");
  report("after direct compaction (9)", mm, order9);
  const full = runPhase(env, mm, "compact_memory");
  report("after compact_memory", mm, full);
  t = performance.now();
  const v = checkBuddy(mm.zone);
  console.log(
    `checkBuddy: ${v.length} violations (${((performance.now() - t) / 1000).toFixed(2)} s); ` +
      `buddyinfo: ${buddyinfo(mm.zone).join(" ")}`,
  );
}

Deno.bench("compact_memory, 1 Mi frames fragmented", { n: 3 }, (b) => {
  const { env, mm } = fragmentedMm(1 << 20);
  b.start();
  runPhase(env, mm, "compact_memory");
  b.end();
});
