import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { MIGRATE, NIL, PG, PhysMem } from "../../../lib/mm/memory.ts";
import { canStealFallback, FALLBACKS, Zone } from "../../../lib/mm/buddy.ts";
import { checkBuddy } from "../../../lib/mm/buddy_check.ts";
import { startIsolatePageRange, undoIsolatePageRange } from "../../../lib/mm/page_isolation.ts";

const { UNMOVABLE, MOVABLE, RECLAIMABLE, CMA } = MIGRATE;

/** A small zone: 64 frames, MAX_PAGE_ORDER 5, pageblock_order 4 (4 pageblocks). */
function smallZone(cma: { startPfn: number; endPfn: number }[] = []) {
  const mem = new PhysMem({ nrFrames: 64, maxOrder: 5, pageblockOrder: 4 });
  const zone = new Zone(mem, { cma, minFreeKbytes: 0 });
  return { mem, zone };
}

/** Drop the last reference and free. */
function put(zone: Zone, pfn: number): void {
  const order = zone.mem.order[pfn]!;
  zone.mem.refcount[pfn] = 0;
  zone.freePages(pfn, order);
}

function assertConsistent(zone: Zone): void {
  assert.deepEqual(checkBuddy(zone), []);
}

Deno.test("Zone populates the buddy allocator with maximal blocks", async (t) => {
  await t.step("4096 frames give four order-10 blocks on the MOVABLE list", () => {
    const mem = new PhysMem({ nrFrames: 4096 });
    const zone = new Zone(mem);
    assert.deepEqual(Array.from(zone.nrFree), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
    assert.equal(zone.nrFreeOf(10, MOVABLE), 4);
    assert.equal(zone.nrFreePages, 4096);
    assert.equal(zone.freeAreaHead(10, MOVABLE), 0, "fresh memory goes to the tail, in order");
    assertConsistent(zone);
  });
  await t.step("a zone not aligned to MAX_PAGE_ORDER is covered by smaller blocks", () => {
    const mem = new PhysMem({ nrFrames: 4096 });
    const zone = new Zone(mem, { startPfn: 3, endPfn: 1500 });
    assert.equal(zone.nrFreePages, 1497);
    assertConsistent(zone);
  });
  await t.step("watermarks follow calculate_min_free_kbytes for a 1 GiB zone", () => {
    const zone = new Zone(new PhysMem({ nrFrames: 262_144 }));
    // int_sqrt(1 GiB in KiB * 16) = 4096 KiB = 1024 pages; tmp = max(256, 262) = 262.
    assert.deepEqual([zone.wmarkMin, zone.wmarkLow, zone.wmarkHigh], [1024, 1286, 1548]);
  });
  await t.step("CMA pageblocks are freed apart from their neighbours", () => {
    const { zone } = smallZone([{ startPfn: 0, endPfn: 16 }]);
    assert.equal(zone.nrFreeOf(4, CMA), 1);
    assert.equal(zone.nrFreeOf(4, MOVABLE), 1, "pageblock 1 cannot merge with the CMA block");
    assert.equal(zone.nrFreeOf(5, MOVABLE), 1);
    assert.equal(zone.nrFreeCmaPages, 16);
    assertConsistent(zone);
  });
});

Deno.test("allocPages splits with expand()", async (t) => {
  await t.step("order 0 from an order-10 block leaves one free block of each order 0..9", () => {
    const mem = new PhysMem({ nrFrames: 1024 });
    const zone = new Zone(mem);
    const pfn = zone.allocPages(0, MOVABLE);
    assert.equal(pfn, 0);
    assert.deepEqual(Array.from(zone.nrFree), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    for (let o = 0; o < 10; o++) {
      assert.equal(zone.freeAreaHead(o, MOVABLE), 1 << o, `upper half of order ${o + 1}`);
    }
    assert.equal(mem.refcount[0], 1);
    assert.equal(mem.generation[0], 1);
    assertConsistent(zone);
  });
  await t.step("the smallest sufficient block is used first", () => {
    const mem = new PhysMem({ nrFrames: 1024 });
    const zone = new Zone(mem);
    zone.allocPages(0, MOVABLE);
    assert.equal(zone.allocPages(3, MOVABLE), 8);
    assert.equal(zone.allocPages(0, MOVABLE), 1);
    assert.equal(zone.nrFree[0], 0);
    assertConsistent(zone);
  });
  await t.step("a compound allocation is a folio: PG_head, tails point at the head", () => {
    const mem = new PhysMem({ nrFrames: 1024 });
    const zone = new Zone(mem);
    const pfn = zone.allocPages(4, MOVABLE, true);
    assert.ok(mem.testFlag(pfn, PG.head));
    assert.equal(mem.order[pfn], 4);
    for (let i = 1; i < 16; i++) {
      assert.equal(mem.head[pfn + i], pfn);
      assert.equal(mem.refcount[pfn + i], 0);
    }
    assert.equal(mem.compoundHead(pfn + 7), pfn);
    put(zone, pfn);
    assert.equal(mem.head[pfn + 7], NIL);
    assert.ok(!mem.testFlag(pfn, PG.head));
    assertConsistent(zone);
  });
  await t.step("reuse bumps the generation of every frame (ABA is visible)", () => {
    const mem = new PhysMem({ nrFrames: 1024 });
    const zone = new Zone(mem);
    const a = zone.allocPages(1, MOVABLE, true);
    put(zone, a);
    const b = zone.allocPages(1, MOVABLE, true);
    assert.equal(b, a);
    assert.deepEqual([mem.generation[b], mem.generation[b + 1]], [2, 2]);
  });
  await t.step("orders above MAX_PAGE_ORDER and exhausted memory return -1", () => {
    const { zone } = smallZone();
    assert.equal(zone.allocPages(6, MOVABLE), NIL);
    assert.equal(zone.allocPages(5, MOVABLE), 0);
    assert.equal(zone.allocPages(5, MOVABLE), 32);
    assert.equal(zone.allocPages(0, UNMOVABLE), NIL);
  });
  await t.step("requests for CMA or ISOLATE are model bugs", () => {
    const { zone } = smallZone();
    assert.throws(() => zone.allocPages(0, CMA), /migratetype 4/);
  });
});

Deno.test("freePages merges buddies (__free_one_page)", async (t) => {
  await t.step("freeing 1024 order-0 pages in any order restores the order-10 block", () => {
    const mem = new PhysMem({ nrFrames: 1024 });
    const zone = new Zone(mem);
    const pfns: number[] = [];
    for (let i = 0; i < 1024; i++) pfns.push(zone.allocPages(0, MOVABLE));
    assert.equal(zone.nrFreePages, 0);
    assert.deepEqual([...pfns].sort((a, b) => a - b), [...Array(1024).keys()]);
    // A fixed shuffle (LCG) so the merge order is irregular.
    let s = 12345;
    for (let i = pfns.length - 1; i > 0; i--) {
      s = (s * 1103515245 + 12345) >>> 0;
      const j = s % (i + 1);
      [pfns[i], pfns[j]] = [pfns[j]!, pfns[i]!];
    }
    for (const p of pfns) {
      put(zone, p);
      assertConsistent(zone);
    }
    assert.deepEqual(Array.from(zone.nrFree), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.equal(zone.freeAreaHead(10, MOVABLE), 0);
  });
  await t.step("a block whose buddy is in use stays at its order", () => {
    const mem = new PhysMem({ nrFrames: 1024 });
    const zone = new Zone(mem);
    const a = zone.allocPages(0, MOVABLE);
    const b = zone.allocPages(0, MOVABLE);
    assert.deepEqual([a, b], [0, 1]);
    put(zone, a);
    assert.equal(zone.nrFreeOf(0, MOVABLE), 1);
    put(zone, b);
    assert.equal(zone.nrFree[10], 1);
  });
  await t.step("blocks above pageblock_order do not merge CMA with MOVABLE", () => {
    const { zone } = smallZone([{ startPfn: 16, endPfn: 32 }]);
    const p = zone.allocPages(4, MOVABLE); // pageblock 0, MOVABLE
    assert.equal(p, 0);
    put(zone, p);
    assert.equal(zone.nrFreeOf(4, MOVABLE), 1);
    assert.equal(zone.nrFreeOf(4, CMA), 1);
    assert.equal(zone.nrFree[5], 1);
    assertConsistent(zone);
  });
  await t.step("merging pageblocks of two mergeable types gives the block one type", () => {
    const { mem, zone } = smallZone();
    const u = zone.allocPages(0, UNMOVABLE); // claims pageblocks 0 and 1 for UNMOVABLE
    assert.equal(u, 0);
    assert.equal(mem.pageblockMigratetype[0], UNMOVABLE);
    zone.setPageblockMigratetype(16, MOVABLE); // pretend pageblock 1 went back to MOVABLE
    zone.moveFreepagesBlock(16, UNMOVABLE, MOVABLE);
    put(zone, u);
    assert.equal(zone.nrFreeOf(5, UNMOVABLE), 1);
    assert.deepEqual([mem.pageblockMigratetype[0], mem.pageblockMigratetype[1]], [
      UNMOVABLE,
      UNMOVABLE,
    ]);
    assertConsistent(zone);
  });
});

Deno.test("freePages of a bad page throws naming the frame, the rule and the value", async (t) => {
  const cases: [string, (mem: PhysMem, pfn: number) => void, RegExp][] = [
    ["refcount", (m, p) => (m.refcount[p] = 2), /frame \d+: refcount is 2, expected 0/],
    ["locked", (m, p) => m.setFlag(p, PG.locked), /flag PG_locked set/],
    ["writeback", (m, p) => m.setFlag(p, PG.writeback), /flag PG_writeback set/],
    ["lru", (m, p) => m.setFlag(p, PG.lru), /flag PG_lru set/],
    ["mapcount", (m, p) => (m.mapcount[p] = 1), /mapcount is 1, expected 0/],
    ["mapping", (m, p) => (m.mapping[p] = 7), /mapping is 7, expected 0/],
  ];
  for (const [name, spoil, re] of cases) {
    await t.step(name, () => {
      const mem = new PhysMem({ nrFrames: 1024 });
      const zone = new Zone(mem);
      const pfn = zone.allocPages(0, MOVABLE);
      mem.refcount[pfn] = 0;
      spoil(mem, pfn);
      assert.throws(() => zone.freePages(pfn, 0), re);
      assertConsistent(zone); // nothing was changed
    });
  }
  await t.step("double free", () => {
    const mem = new PhysMem({ nrFrames: 1024 });
    const zone = new Zone(mem);
    const a = zone.allocPages(0, MOVABLE);
    zone.allocPages(0, MOVABLE); // keeps frame 0 from merging
    put(zone, a);
    assert.throws(() => zone.freePages(a, 0), /frame 0: it is already free \(PageBuddy, order 0/);
  });
  await t.step("a dirty tail page of a folio names the page", () => {
    const mem = new PhysMem({ nrFrames: 1024 });
    const zone = new Zone(mem);
    const pfn = zone.allocPages(2, MOVABLE, true);
    mem.refcount[pfn] = 0;
    mem.refcount[pfn + 3] = 1;
    assert.throws(() => zone.freePages(pfn, 2), /frame 3 \(page 3 of 0\): refcount is 1/);
  });
  await t.step("wrong order for a folio", () => {
    const mem = new PhysMem({ nrFrames: 1024 });
    const zone = new Zone(mem);
    const pfn = zone.allocPages(2, MOVABLE, true);
    mem.refcount[pfn] = 0;
    assert.throws(() => zone.freePages(pfn, 1), /heads a folio of order 2/);
  });
  await t.step("misaligned block", () => {
    const { zone } = smallZone();
    assert.throws(() => zone.freePages(3, 2), /must be aligned to 4 pages/);
  });
});

Deno.test("fallback follows the kernel's fallbacks[] table and claiming rules", async (t) => {
  await t.step("the table", () => {
    assert.deepEqual(FALLBACKS, [RECLAIMABLE, MOVABLE, RECLAIMABLE, UNMOVABLE, UNMOVABLE, MOVABLE]);
  });
  await t.step("can_steal_fallback", () => {
    assert.ok(canStealFallback(9, MOVABLE, 9));
    assert.ok(canStealFallback(4, MOVABLE, 9), "order >= pageblock_order / 2");
    assert.ok(!canStealFallback(3, MOVABLE, 9));
    assert.ok(canStealFallback(0, UNMOVABLE, 9));
    assert.ok(canStealFallback(0, RECLAIMABLE, 9));
  });
  await t.step("UNMOVABLE claims the largest MOVABLE block, all its pageblocks", () => {
    const { mem, zone } = smallZone();
    assert.equal(zone.allocPages(0, UNMOVABLE), 0);
    assert.deepEqual(Array.from(mem.pageblockMigratetype), [
      UNMOVABLE,
      UNMOVABLE,
      MOVABLE,
      MOVABLE,
    ]);
    // The rest of the split block is on the UNMOVABLE lists: the next request does not steal.
    assert.equal(zone.allocPages(0, UNMOVABLE), 1);
    assert.equal(zone.nrFreeOf(5, MOVABLE), 1);
    assertConsistent(zone);
  });
  await t.step("UNMOVABLE prefers RECLAIMABLE over MOVABLE at the same order", () => {
    const { mem, zone } = smallZone();
    const r = zone.allocPages(0, RECLAIMABLE); // claims pageblocks 0-1 for RECLAIMABLE
    put(zone, r);
    assert.equal(zone.nrFreeOf(5, RECLAIMABLE), 1);
    assert.equal(zone.allocPages(0, UNMOVABLE), 0, "took the RECLAIMABLE block");
    assert.equal(mem.pageblockMigratetype[0], UNMOVABLE);
    assert.equal(mem.pageblockMigratetype[2], MOVABLE);
  });
  await t.step("MOVABLE claims a sub-pageblock block if half the pageblock is free", () => {
    const { mem, zone } = smallZone();
    assert.equal(zone.allocPages(0, UNMOVABLE), 0); // pageblocks 0-1 UNMOVABLE
    assert.equal(zone.allocPages(5, MOVABLE), 32); // MOVABLE lists now empty
    assert.equal(zone.allocPages(4, UNMOVABLE), 16); // pageblock 1 full
    // Pageblock 0: frame 0 used, 15 free (orders 0..3). Order 3 >= pageblock_order / 2.
    const p = zone.allocPages(0, MOVABLE);
    assert.equal(mem.pageblockMigratetype[0], MOVABLE, "claimed");
    assert.equal(p, 1, "then __rmqueue_smallest on MOVABLE takes the order-0 block");
    assert.equal(zone.nrFreeOf(3, MOVABLE), 1);
    assertConsistent(zone);
  });
  await t.step("MOVABLE steals one block and leaves the pageblock alone if < half free", () => {
    const { mem, zone } = smallZone();
    zone.allocPages(0, UNMOVABLE);
    zone.allocPages(5, MOVABLE);
    zone.allocPages(4, UNMOVABLE);
    assert.equal(zone.allocPages(3, UNMOVABLE), 8); // pageblock 0: 7 free of 16
    const p = zone.allocPages(0, MOVABLE);
    assert.equal(p, 4, "split the largest fallback block (order 2 at 4)");
    assert.equal(mem.pageblockMigratetype[0], UNMOVABLE, "not claimed");
    assert.equal(zone.nrFreeOf(0, UNMOVABLE), 2, "remainder back on the block's own type");
    assert.equal(zone.nrFreeOf(1, UNMOVABLE), 2);
    assertConsistent(zone);
  });
  await t.step("small MOVABLE fallback takes the smallest block (find_smallest)", () => {
    const { mem, zone } = smallZone();
    zone.allocPages(0, UNMOVABLE);
    zone.allocPages(5, MOVABLE);
    zone.allocPages(4, UNMOVABLE);
    zone.allocPages(3, UNMOVABLE);
    assert.equal(zone.allocPages(2, UNMOVABLE), 4); // free in pageblock 0: order 0 @1, order 1 @2
    // Largest fallback is order 1 < pageblock_order / 2: may not claim, so take the smallest.
    assert.equal(zone.allocPages(0, MOVABLE), 1);
    assert.equal(zone.nrFreeOf(1, UNMOVABLE), 1, "the order-1 block was not split");
    assert.equal(mem.pageblockMigratetype[0], UNMOVABLE);
    assertConsistent(zone);
  });
  await t.step("movable pages in the pageblock count as alike for a MOVABLE claim", () => {
    const { mem, zone } = smallZone();
    zone.allocPages(0, UNMOVABLE); // 0
    zone.allocPages(5, MOVABLE); // 32..63
    zone.allocPages(4, UNMOVABLE); // 16..31
    zone.allocPages(3, UNMOVABLE); // 8..15, 7 free in pageblock 0
    // Make pageblock 0's in-use frames 8..15 look movable (e.g. on the LRU).
    mem.setFlag(8, PG.lru);
    for (let i = 9; i < 16; i++) mem.head[i] = 8; // as if a folio
    assert.equal(zone.allocPages(0, MOVABLE), 1, "7 free + 8 movable >= 8: claimed");
    assert.equal(mem.pageblockMigratetype[0], MOVABLE);
  });
});

Deno.test("CMA pageblocks serve only MOVABLE allocations", async (t) => {
  await t.step("UNMOVABLE and RECLAIMABLE never get CMA frames", () => {
    const { zone } = smallZone([{ startPfn: 0, endPfn: 16 }]);
    const got: number[] = [];
    for (;;) {
      const p = zone.allocPages(0, got.length % 2 ? UNMOVABLE : RECLAIMABLE);
      if (p === NIL) break;
      got.push(p);
    }
    assert.equal(got.length, 48);
    assert.ok(got.every((p) => p >= 16));
    assert.equal(zone.nrFreeCmaPages, 16, "CMA untouched");
    assert.equal(zone.allocPages(0, MOVABLE) < 16, true, "MOVABLE may use CMA");
    assertConsistent(zone);
  });
  await t.step("MOVABLE uses CMA first once CMA holds over half of the free pages", () => {
    const { zone } = smallZone([{ startPfn: 0, endPfn: 16 }]);
    assert.ok(zone.allocPages(0, MOVABLE) >= 16, "16 of 64 free pages are CMA: regular first");
    zone.allocPages(5, UNMOVABLE);
    zone.allocPages(3, UNMOVABLE);
    // Now 16 CMA of 23 free pages.
    assert.ok(zone.allocPages(0, MOVABLE) < 16);
  });
});

Deno.test("isolateFreePage / putbackIsolatedPage", async (t) => {
  await t.step("isolating half a pageblock turns it MOVABLE", () => {
    const { mem, zone } = smallZone();
    zone.allocPages(0, UNMOVABLE); // pageblocks 0-1 UNMOVABLE; order 3 free at 8
    assert.equal(zone.isolateFreePage(8, 3), 8);
    assert.equal(mem.pageblockMigratetype[0], MOVABLE);
    assert.equal(zone.nrFreeOf(2, MOVABLE), 1, "the rest of the pageblock moved along");
    zone.putbackIsolatedPage(8, 3);
    assertConsistent(zone);
  });
  await t.step("the min watermark applies outside isolated pageblocks", () => {
    const mem = new PhysMem({ nrFrames: 64, maxOrder: 5, pageblockOrder: 4 });
    const zone = new Zone(mem, { minFreeKbytes: 4 * 40 });
    assert.equal(zone.wmarkMin, 40);
    assert.equal(zone.isolateFreePage(0, 5), 0, "64 - 32 would leave fewer than 40 + 1");
    assert.equal(zone.isolateFreePage(0, 5) + zone.nrFreePages, 64);
  });
  await t.step("a page that is not free cannot be isolated", () => {
    const { zone } = smallZone();
    const p = zone.allocPages(0, MOVABLE);
    assert.throws(() => zone.isolateFreePage(p, 0), /not a free block/);
  });
});

type Op =
  | { kind: "alloc"; order: number; mt: number; compound: boolean }
  | { kind: "free"; pick: number }
  | { kind: "isolate"; pick: number }
  | { kind: "isolateRange"; block: number; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("alloc" as const),
      order: fc.integer({ min: 0, max: 5 }),
      mt: fc.integer({ min: 0, max: 2 }),
      compound: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("isolate" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("isolateRange" as const),
      block: fc.integer({ min: 0, max: 15 }),
      n: fc.integer({ min: 1, max: 4 }),
    }),
  },
);

Deno.test("random alloc/free sequences keep the free lists consistent (checkBuddy)", () => {
  fc.assert(
    fc.property(
      fc.array(opArb, { maxLength: 400, size: "large" }),
      fc.boolean(),
      (ops, withCma) => {
        // 256 frames, MAX_PAGE_ORDER 5, pageblock_order 4: 16 pageblocks, buddies across them.
        const mem = new PhysMem({ nrFrames: 256, maxOrder: 5, pageblockOrder: 4 });
        const zone = new Zone(mem, {
          minFreeKbytes: 0,
          cma: withCma ? [{ startPfn: 64, endPfn: 96 }] : [],
        });
        const live: number[] = [];
        let livePages = 0;
        for (const op of ops) {
          if (op.kind === "alloc") {
            const p = zone.allocPages(op.order, op.mt, op.compound);
            if (p !== NIL) {
              assert.equal(p % (1 << op.order), 0);
              if (op.mt !== MOVABLE) assert.notEqual(mem.pageblockMigratetype[p >> 4], CMA);
              live.push(p);
              livePages += 1 << op.order;
            }
          } else if (op.kind === "free" && live.length > 0) {
            const i = op.pick % live.length;
            const p = live[i]!;
            live[i] = live[live.length - 1]!;
            live.pop();
            livePages -= 1 << mem.order[p]!;
            put(zone, p);
          } else if (op.kind === "isolate") {
            // Isolate some free block and put it back (compaction's free scanner).
            let o = 5;
            while (o >= 0 && zone.nrFree[o] === 0) o--;
            if (o >= 0) {
              for (let mt = 0; mt < 6; mt++) {
                const f = zone.freeAreaHead(o, mt);
                if (f === NIL) continue;
                if (zone.isolateFreePage(f, o) !== 0) zone.putbackIsolatedPage(f, o);
                break;
              }
            }
          } else if (op.kind === "isolateRange") {
            const start = op.block * 16;
            const end = Math.min(256, start + op.n * 16);
            const inCma = withCma && start >= 64 && end <= 96;
            if (withCma && !inCma && end > 64 && start < 96) continue; // straddles CMA
            const restore = inCma ? CMA : MOVABLE;
            const r = startIsolatePageRange(zone, start, end, restore);
            if (r.ok) {
              assert.deepEqual(checkBuddy(zone), []);
              undoIsolatePageRange(zone, start, end, restore);
            }
          }
          const v = checkBuddy(zone, 5);
          if (v.length > 0) throw new Error(`after ${JSON.stringify(op)}: ${v[0]!.message}`);
          assert.equal(zone.nrFreePages + livePages, 256);
        }
        for (const p of live) put(zone, p);
        assert.deepEqual(checkBuddy(zone), []);
        assert.equal(zone.nrFreePages, 256);
        // Everything merged back into order-5 blocks (the CMA range is one of them).
        const expectBlocks = 8;
        let blocks = 0;
        for (let o = 0; o <= 5; o++) blocks += zone.nrFree[o]!;
        assert.equal(blocks, expectBlocks);
      },
    ),
    { numRuns: 150 },
  );
});
