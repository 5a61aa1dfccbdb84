/**
 * Scale check: a 64 GiB machine (16 Mi frames of 4 KiB) in one process. Allocates the frames,
 * hands them to the buddy allocator, fills the zone and fragments it (50 % in use, 90 % of the
 * free memory in blocks below pageblock order), and reports the resident set size after each
 * step with the model's bytes per frame; then touches every page of every per-frame array so
 * the final RSS is the worst case. Compaction is not run here; the zone is left fragmented.
 *
 * Run: `deno run bench/scale_memory.ts [nrFrames]` (default 16777216).
 *
 * @module
 */

import { PhysMem } from "../lib/mm/memory.ts";
import { Zone } from "../lib/mm/buddy.ts";
import { checkBuddy } from "../lib/mm/buddy_check.ts";
import { buddyinfo, fragmentZone, pageblockStats, unusableFreeIndex } from "../lib/mm/fragment.ts";
import { Rng } from "../lib/sim/rng.ts";

/** Resident set size in MiB. */
function rssMiB(): number {
  return Deno.memoryUsage().rss / 2 ** 20;
}

/** One line of the report. */
function step(label: string, t0: number): void {
  const s = ((performance.now() - t0) / 1000).toFixed(2);
  console.log(`${label.padEnd(44)} RSS ${rssMiB().toFixed(0).padStart(5)} MiB   (${s} s)`);
}

const nrFrames = Number(Deno.args[0] ?? 16 << 20);
console.log(`${nrFrames} frames of 4 KiB = ${(nrFrames * 4096 / 2 ** 30).toFixed(1)} GiB`);
step("start", performance.now());

let t = performance.now();
const mem = new PhysMem({ nrFrames });
step("PhysMem allocated", t);

t = performance.now();
const zone = new Zone(mem);
step("buddy allocator populated (memblock_free_all)", t);

t = performance.now();
const report = fragmentZone(zone, new Rng(2026), { utilisation: 0.5, fragmentation: 0.9 });
step("filled to 100 %, fragmented to 50 % in use", t);

t = performance.now();
// Commit every page of every per-frame array (untouched zero pages are not resident), so the
// RSS below is the worst case of a workload that uses every field.
for (const v of Object.values(mem)) {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const a = v as unknown as { [i: number]: number; length: number; BYTES_PER_ELEMENT: number };
    for (let i = 0; i < a.length; i += 4096 / a.BYTES_PER_ELEMENT) a[i] = a[i]!;
  }
}
step("every per-frame array page touched", t);

t = performance.now();
const stats = pageblockStats(zone);
step("pageblock map computed", t);

t = performance.now();
const violations = checkBuddy(zone);
step("checkBuddy over the whole zone", t);

const gib = rssMiB() / 1024;
console.log();
console.log(
  `allocations: ${report.allocated}, freed: ${report.freedRegions + report.freedScattered}`,
);
console.log(
  `in use: ${report.usedPages} pages, free: ${report.freePages} pages, share of free memory ` +
    `below order ${report.order}: ${report.achieved.toFixed(4)} (target ${report.target})`,
);
console.log(`unusable_free_index(9) = ${unusableFreeIndex(zone, 9)} / 1000`);
console.log(`buddyinfo: ${buddyinfo(zone).join(" ")}`);
const mixed = stats.unmovable.reduce((n, u, i) => n + (u > 0 && stats.movable[i]! > 0 ? 1 : 0), 0);
console.log(`pageblocks with both movable and unmovable frames: ${mixed} of ${stats.free.length}`);
console.log(`checkBuddy violations: ${violations.length}`);
console.log(
  `model state: ${mem.bytesPerFrame().toFixed(2)} bytes/frame in PhysMem ` +
    `(${(mem.bytesPerFrame() * nrFrames / 2 ** 20).toFixed(0)} MiB); RSS ${gib.toFixed(2)} GiB ` +
    `= ${(rssMiB() * 2 ** 20 / nrFrames).toFixed(1)} bytes/frame all-in`,
);
