import assert from "node:assert/strict";
import { MIGRATE, PhysMem } from "../../../lib/mm/memory.ts";
import { Zone } from "../../../lib/mm/buddy.ts";
import { checkBuddy } from "../../../lib/mm/buddy_check.ts";
import { Rng } from "../../../lib/sim/rng.ts";
import {
  buddyinfo,
  contigPageInfo,
  FRAGMENT_MAPPING,
  fragmentationIndex,
  fragmentZone,
  freeShareBelowOrder,
  pageblockStats,
  pagetypeinfo,
  unusableFreeIndex,
} from "../../../lib/mm/fragment.ts";

const { UNMOVABLE, MOVABLE, RECLAIMABLE } = MIGRATE;

function zone(nrFrames = 1 << 16) {
  const mem = new PhysMem({ nrFrames });
  return new Zone(mem);
}

Deno.test("fragmentZone reaches the target fragmentation", async (t) => {
  for (const target of [0.1, 0.5, 0.9, 1]) {
    await t.step(`share below order 9 = ${target}`, () => {
      const z = zone();
      const r = fragmentZone(z, new Rng(3), { utilisation: 0.6, fragmentation: target });
      const free = z.managedPages - Math.round(0.6 * z.managedPages);
      assert.ok(r.freePages >= free && r.freePages - free < 512, `free ${r.freePages}`);
      assert.equal(r.usedPages + r.freePages, z.managedPages);
      // One order-9 region of overshoot at most.
      assert.ok(Math.abs(r.achieved - target) <= 512 / free + 1e-9, `achieved ${r.achieved}`);
      assert.equal(r.achieved, freeShareBelowOrder(z, 9));
      assert.deepEqual(checkBuddy(z), []);
    });
  }
  await t.step("other orders and mixes", () => {
    const z = zone();
    const r = fragmentZone(z, new Rng(5), {
      utilisation: 0.3,
      order: 4,
      fragmentation: 0.5,
      orderWeights: [1, 0, 1],
      migratetypeWeights: { unmovable: 1, movable: 1, reclaimable: 1 },
    });
    assert.equal(r.order, 4);
    assert.ok(Math.abs(r.achieved - 0.5) < 0.01, `achieved ${r.achieved}`);
    const t2 = pagetypeinfo(z);
    assert.ok(t2.pageblocks[UNMOVABLE]! > 0 && t2.pageblocks[RECLAIMABLE]! > 0);
    assert.deepEqual(checkBuddy(z), []);
  });
  await t.step("same seed, same memory; any rng shape works", () => {
    const a = zone(1 << 14), b = zone(1 << 14);
    fragmentZone(a, new Rng(9), {});
    fragmentZone(b, new Rng(9), {});
    assert.deepEqual(a.mem.refcount, b.mem.refcount);
    assert.deepEqual(a.mem.pageblockMigratetype, b.mem.pageblockMigratetype);
    let s = 1;
    const lcg = () => (s = (s * 1664525 + 1013904223) >>> 0);
    for (const rng of [{ nextU32: lcg }, { next: lcg }, () => lcg() / 2 ** 32]) {
      const z = zone(1 << 14);
      const r = fragmentZone(z, rng, { fragmentation: 0.5 });
      assert.ok(Math.abs(r.achieved - 0.5) < 0.07, `achieved ${r.achieved}`);
    }
  });
  await t.step("memory allocated by others is never freed", () => {
    const z = zone(1 << 14);
    const others: number[] = [];
    for (let i = 0; i < 100; i++) others.push(z.allocPages(0, UNMOVABLE));
    fragmentZone(z, new Rng(4), { utilisation: 0.1, fragmentation: 0.5 });
    for (const p of others) assert.equal(z.mem.refcount[p], 1);
    assert.deepEqual(checkBuddy(z), []);
  });
  await t.step("movable folios carry FRAGMENT_MAPPING, kernel allocations none", () => {
    const z = zone(1 << 14);
    fragmentZone(z, new Rng(1), {
      migratetypeWeights: { unmovable: 0, movable: 1, reclaimable: 0 },
    });
    const mem = z.mem;
    for (let p = 0; p < mem.nrFrames; p++) {
      if (mem.refcount[p]! > 0) assert.equal(mem.mapping[p], FRAGMENT_MAPPING);
    }
  });
});

Deno.test("fragmentation metrics follow mm/vmstat.c", async (t) => {
  // 2048 frames, all free: two order-10 blocks.
  await t.step("an empty zone", () => {
    const z = zone(2048);
    assert.deepEqual(buddyinfo(z), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    assert.deepEqual(contigPageInfo(z, 9), {
      freePages: 2048,
      freeBlocksTotal: 2,
      freeBlocksSuitable: 4,
    });
    assert.equal(unusableFreeIndex(z, 10), 0);
    assert.equal(fragmentationIndex(z, 10), -1000);
  });
  await t.step("free memory only in small blocks", () => {
    const z = zone(1024);
    // Take every other page: 512 free order-0 blocks.
    const got: number[] = [];
    for (let i = 0; i < 1024; i++) got.push(z.allocPages(0, MOVABLE));
    for (const p of got) {
      if (p % 2 === 0) {
        z.mem.refcount[p] = 0;
        z.freePages(p, 0);
      }
    }
    assert.equal(buddyinfo(z)[0], 512);
    assert.equal(unusableFreeIndex(z, 0), 0);
    assert.equal(unusableFreeIndex(z, 1), 1000);
    assert.equal(freeShareBelowOrder(z, 1), 1);
    // __fragmentation_index: 1000 - (1000 + 512 * 1000 / 2) / 512 = 1000 - 501 = 499.
    assert.equal(fragmentationIndex(z, 1), 499);
    // For order 9: 1000 - (1000 + 1000) / 512 = 997.
    assert.equal(fragmentationIndex(z, 9), 997);
  });
  await t.step("no free memory", () => {
    const z = zone(1024);
    z.allocPages(10, MOVABLE);
    assert.equal(unusableFreeIndex(z, 3), 1000);
    assert.equal(freeShareBelowOrder(z, 3), 1);
    assert.equal(fragmentationIndex(z, 3), 0);
  });
  await t.step("unusable index truncates like div_u64", () => {
    const z = zone(1024);
    z.allocPages(0, MOVABLE); // free: one block of each order 0..9 = 1023 pages
    // order 9: (1023 - 512) * 1000 / 1023 = 499.5 -> 499
    assert.equal(unusableFreeIndex(z, 9), 499);
    assert.ok(Math.abs(freeShareBelowOrder(z, 9) - 511 / 1023) < 1e-12);
  });
});

Deno.test("pageblockStats classifies every frame", () => {
  const z = zone(1 << 14);
  fragmentZone(z, new Rng(2), { utilisation: 0.7 });
  const s = pageblockStats(z);
  let free = 0, movable = 0, unmovable = 0;
  for (let b = 0; b < s.migratetype.length; b++) {
    assert.equal(s.free[b]! + s.movable[b]! + s.unmovable[b]! + s.pinned[b]! + s.other[b]!, 512);
    free += s.free[b]!;
    movable += s.movable[b]!;
    unmovable += s.unmovable[b]!;
  }
  assert.equal(free, z.nrFreePages);
  assert.ok(movable > unmovable && unmovable > 0);
  const pinned = pageblockStats(z, (mem, h) => mem.mapping[h] === FRAGMENT_MAPPING);
  assert.equal(pinned.pinned.reduce((a, b) => a + b, 0), movable);
});
