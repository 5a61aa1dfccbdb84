import assert from "node:assert/strict";
import { MIGRATE, NIL, PhysMem } from "../../../lib/mm/memory.ts";
import { Zone } from "../../../lib/mm/buddy.ts";
import { checkBuddy } from "../../../lib/mm/buddy_check.ts";
import {
  allocContigRange,
  freeContigRange,
  hasUnmovablePages,
  migrateRangeNone,
  type MigrateRangeResult,
  startIsolatePageRange,
  testPagesIsolated,
  undoIsolatePageRange,
} from "../../../lib/mm/page_isolation.ts";

const { UNMOVABLE, MOVABLE, CMA, ISOLATE } = MIGRATE;

function zone4k(cma: { startPfn: number; endPfn: number }[] = []) {
  const mem = new PhysMem({ nrFrames: 4096 });
  return { mem, zone: new Zone(mem, { cma }) };
}

/** Allocate a movable order-0 page at an exact pfn by draining lower ones (test helper). */
function allocMovableAt(zone: Zone, target: number): number {
  const held: number[] = [];
  let p: number;
  while ((p = zone.allocPages(0, MOVABLE)) !== target) {
    assert.notEqual(p, NIL);
    held.push(p);
  }
  zone.mem.mapping[p] = 42; // a page-cache page: movable
  for (const h of held) {
    zone.mem.refcount[h] = 0;
    zone.freePages(h, 0);
  }
  return p;
}

/** A migration hook that "migrates" movable pages: new page elsewhere, old page freed. */
function migrateByCopy(zone: Zone, start: number, end: number): MigrateRangeResult {
  const mem = zone.mem;
  for (let p = start; p < end; p++) {
    if (mem.refcount[p]! > 0 && mem.mapping[p] !== 0) {
      const dst = zone.allocPages(0, MOVABLE);
      if (dst === NIL) return { ok: false, errno: "ENOMEM", failedPfn: p };
      assert.ok(dst < start || dst >= end, "destination outside the isolated range");
      mem.mapping[dst] = mem.mapping[p]!;
      mem.mapping[p] = 0;
      mem.refcount[p] = 0;
      zone.freePages(p, 0);
    }
  }
  return { ok: true };
}

function noIsolatedBlocks(zone: Zone): boolean {
  return !zone.mem.pageblockMigratetype.includes(ISOLATE) && zone.nrIsolatePageblock === 0;
}

Deno.test("startIsolatePageRange / undoIsolatePageRange", async (t) => {
  await t.step("isolated free pages leave NR_FREE_PAGES and cannot be allocated", () => {
    const { zone } = zone4k();
    assert.ok(startIsolatePageRange(zone, 0, 3584, MOVABLE).ok);
    assert.equal(zone.nrFreePages, 512);
    assert.equal(zone.allocPages(9, MOVABLE), 3584);
    assert.equal(zone.allocPages(0, MOVABLE), NIL);
    assert.deepEqual(checkBuddy(zone), []);
    undoIsolatePageRange(zone, 0, 3584, MOVABLE);
    assert.equal(zone.nrFreePages, 3584);
    assert.equal(zone.nrFree[10], 3, "order-10 blocks merged again");
    assert.ok(noIsolatedBlocks(zone));
    assert.deepEqual(checkBuddy(zone), []);
  });
  await t.step("an isolated pageblock cannot be isolated twice", () => {
    const { zone } = zone4k();
    assert.ok(startIsolatePageRange(zone, 512, 1024, MOVABLE).ok);
    assert.deepEqual(startIsolatePageRange(zone, 0, 1024, MOVABLE), {
      ok: false,
      errno: "EBUSY",
      failedPfn: 512,
    });
    assert.equal(zone.getPageblockMigratetype(0), MOVABLE, "partial isolation undone");
  });
  await t.step("a page freed while isolated goes to the ISOLATE list", () => {
    const { zone } = zone4k();
    const p = allocMovableAt(zone, 0);
    assert.ok(startIsolatePageRange(zone, 0, 512, MOVABLE).ok);
    zone.mem.mapping[p] = 0;
    zone.mem.refcount[p] = 0;
    zone.freePages(p, 0);
    assert.equal(zone.nrFreeOf(9, ISOLATE), 1);
    assert.ok(testPagesIsolated(zone, 0, 512).ok);
    undoIsolatePageRange(zone, 0, 512, MOVABLE);
    assert.equal(zone.nrFree[10], 4);
  });
  await t.step("has_unmovable_pages finds kernel pages, trusts ZONE_MOVABLE", () => {
    const { zone } = zone4k();
    const k = zone.allocPages(0, UNMOVABLE);
    const base = k - (k % 512);
    assert.equal(hasUnmovablePages(zone, base, base + 512, MOVABLE), k);
    const r = startIsolatePageRange(zone, base, base + 512, MOVABLE);
    assert.deepEqual(r, { ok: false, errno: "EBUSY", failedPfn: k });
    const mem = new PhysMem({ nrFrames: 4096 });
    const movableZone = new Zone(mem, { movable: true });
    const k2 = movableZone.allocPages(0, UNMOVABLE);
    assert.equal(hasUnmovablePages(movableZone, 0, 4096 >> 3, MOVABLE), NIL, `k2 = ${k2}`);
  });
});

Deno.test("allocContigRange", async (t) => {
  await t.step("a free range: order-0 pages with refcount 1, the rest freed again", () => {
    const { mem, zone } = zone4k();
    const r = allocContigRange(zone, 1000, 1100, MOVABLE, { migrateRange: migrateRangeNone });
    assert.deepEqual(r, { ok: true });
    for (let p = 1000; p < 1100; p++) {
      assert.equal(mem.refcount[p], 1);
      assert.equal(mem.generation[p], 1);
    }
    assert.equal(zone.nrFreePages, 4096 - 100);
    assert.ok(noIsolatedBlocks(zone));
    assert.deepEqual(checkBuddy(zone), []);
    freeContigRange(zone, 1000, 100);
    assert.equal(zone.nrFree[10], 4);
  });
  await t.step("in-use movable pages are migrated by the hook", () => {
    const { mem, zone } = zone4k();
    const p = allocMovableAt(zone, 5);
    const r = allocContigRange(zone, 0, 512, MOVABLE, { migrateRange: migrateByCopy });
    assert.deepEqual(r, { ok: true });
    assert.equal(mem.mapping[p], 0);
    assert.equal(mem.refcount[5], 1, "now part of the contiguous allocation");
    assert.ok(noIsolatedBlocks(zone));
    assert.deepEqual(checkBuddy(zone), []);
  });
  await t.step("a hook that cannot migrate gives -EBUSY at the busy page", () => {
    const { zone } = zone4k();
    allocMovableAt(zone, 7);
    const free = zone.nrFreePages;
    const r = allocContigRange(zone, 0, 512, MOVABLE, { migrateRange: migrateRangeNone });
    assert.deepEqual(r, { ok: false, errno: "EBUSY", failedPfn: 7 });
    assert.equal(zone.nrFreePages, free, "nothing taken");
    assert.ok(noIsolatedBlocks(zone));
    assert.deepEqual(checkBuddy(zone), []);
  });
  await t.step("-EAGAIN is retried, -ENOMEM ends the attempt", () => {
    const { zone } = zone4k();
    allocMovableAt(zone, 3);
    let calls = 0;
    const again = allocContigRange(zone, 0, 512, MOVABLE, {
      migrateRange: (
        z,
        s,
        e,
      ) => (++calls < 3 ? { ok: false, errno: "EAGAIN", failedPfn: 3 } : migrateByCopy(z, s, e)),
    });
    assert.deepEqual(again, { ok: true });
    assert.equal(calls, 3);
    const { zone: z2 } = zone4k();
    allocMovableAt(z2, 3);
    const nomem = allocContigRange(z2, 0, 512, MOVABLE, {
      migrateRange: () => ({ ok: false, errno: "ENOMEM", failedPfn: 3 }),
    });
    assert.deepEqual(nomem, { ok: false, errno: "ENOMEM", failedPfn: 3 });
    assert.ok(noIsolatedBlocks(z2));
  });
  await t.step("an unmovable page fails isolation with -EBUSY", () => {
    const { zone } = zone4k();
    const k = zone.allocPages(0, UNMOVABLE);
    const base = k - (k % 512);
    const r = allocContigRange(zone, base, base + 512, MOVABLE, { migrateRange: migrateByCopy });
    assert.deepEqual(r, { ok: false, errno: "EBUSY", failedPfn: k });
  });
  await t.step("CMA pageblocks: only a CMA request may take them, and they stay CMA", () => {
    const { mem, zone } = zone4k([{ startPfn: 1024, endPfn: 2048 }]);
    const hooks = { migrateRange: migrateRangeNone };
    assert.deepEqual(allocContigRange(zone, 1024, 1536, MOVABLE, hooks), {
      ok: false,
      errno: "EBUSY",
      failedPfn: 1024,
    });
    assert.deepEqual(allocContigRange(zone, 1024, 1536, CMA, hooks), { ok: true });
    assert.equal(mem.pageblockMigratetype[2], CMA);
    assert.equal(zone.nrFreeCmaPages, 512);
    freeContigRange(zone, 1024, 512);
    assert.equal(zone.nrFreeCmaPages, 1024);
    assert.deepEqual(checkBuddy(zone), []);
  });
  await t.step("compound: an aligned power of two becomes one folio; otherwise -EINVAL", () => {
    const { mem, zone } = zone4k();
    const hooks = { migrateRange: migrateRangeNone };
    assert.deepEqual(allocContigRange(zone, 1024, 2048, MOVABLE, hooks, true), { ok: true });
    assert.equal(mem.order[1024], 10);
    assert.equal(mem.head[2047], 1024);
    assert.equal(mem.refcount[1024], 1);
    assert.deepEqual(allocContigRange(zone, 100, 200, MOVABLE, hooks, true), {
      ok: false,
      errno: "EINVAL",
      failedPfn: 100,
    });
    assert.equal(zone.nrFreePages, 3072);
    assert.deepEqual(checkBuddy(zone), []);
    mem.refcount[1024] = 0;
    zone.freePages(1024, 10);
    assert.equal(zone.nrFree[10], 4);
  });
  await t.step("a range outside the zone is a caller bug", () => {
    const { zone } = zone4k();
    assert.throws(
      () => allocContigRange(zone, 4000, 5000, MOVABLE, { migrateRange: migrateRangeNone }),
      /not a non-empty range inside zone Normal/,
    );
  });
});
