import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  type BuddyViolation,
  checkBuddy,
  MIGRATE,
  PhysMem,
  startIsolatePageRange,
  undoIsolatePageRange,
  Zone,
} from "../../../mod.ts";

/** A 4096-frame zone after one order-0 allocation at pfn 0 (so small free blocks exist). */
function zone(nrFrames = 4096, config: ConstructorParameters<typeof Zone>[1] = {}) {
  const mem = new PhysMem({ nrFrames });
  const z = new Zone(mem, config);
  const first = z.allocPages(0, MIGRATE.MOVABLE);
  return { mem, z, first };
}

const rules = (v: BuddyViolation[]) => [...new Set(v.map((x) => x.rule))].sort();

Deno.test("checkBuddy is silent on consistent free lists", () => {
  const { z, first } = zone();
  assert.equal(first, 0, "the lower half of the first block is handed out");
  assert.deepEqual(checkBuddy(z), []);
  z.mem.refcount[first] = 0; // the last reference was dropped
  z.freePages(first, 0);
  assert.deepEqual(checkBuddy(z), [], "freed and merged back");
});

Deno.test("checkBuddy: each rule fires on a constructed violation", async (t) => {
  // After allocating pfn 0, `expand` left free blocks 1 (order 0), 2 (order 1), 4 (order 2)…
  await t.step("list-link: a broken prev pointer", () => {
    const { mem, z } = zone();
    const head = z.freeAreaHead(10, MIGRATE.MOVABLE);
    const second = mem.next[head]!;
    mem.prev[second] = 7;
    const v = checkBuddy(z);
    assert.deepEqual(rules(v), ["list-link"]);
    assert.equal(v[0]!.pfn, second);
    assert.match(
      v[0]!.message,
      new RegExp(`^list-link: prev of ${second} is 7, expected ${head}$`),
    );
  });
  await t.step("list-count: NR_FREE_PAGES disagrees with the lists", () => {
    const { z } = zone();
    z.nrFreePages += 1;
    const v = checkBuddy(z);
    assert.deepEqual(rules(v), ["list-count"]);
    assert.match(v[0]!.message, /NR_FREE_PAGES is 4096, lists hold 4095/);
  });
  await t.step("list-order: a block's order differs from its list's", () => {
    const { mem, z } = zone();
    mem.order[4] = 1; // on the order-2 list
    assert.ok(rules(checkBuddy(z)).includes("list-order"));
    assert.equal(checkBuddy(z).find((v) => v.rule === "list-order")!.pfn, 4);
  });
  await t.step("align: a free block not aligned to its order", () => {
    const { z } = zone();
    z.delFromFreeList(1, 0, MIGRATE.MOVABLE);
    z.delFromFreeList(2, 1, MIGRATE.MOVABLE);
    z.addToFreeList(1, 1, MIGRATE.MOVABLE, false); // [1, 2] as one order-1 block
    const v = checkBuddy(z);
    assert.deepEqual(rules(v), ["align"]);
    assert.equal(v[0]!.pfn, 1);
  });
  await t.step("range: a free block outside the zone", () => {
    const { z } = zone(4096, { endPfn: 2048 });
    z.addToFreeList(2048, 0, MIGRATE.MOVABLE, true);
    assert.ok(rules(checkBuddy(z)).includes("range"));
  });
  await t.step("list-migratetype: a pageblock changed type under its free blocks", () => {
    const { z } = zone();
    z.setPageblockMigratetype(1024, MIGRATE.UNMOVABLE);
    const v = checkBuddy(z);
    assert.deepEqual(rules(v), ["list-migratetype"]);
    assert.equal(v[0]!.pfn, 1024);
  });
  await t.step("overlap: a frame in two free blocks", () => {
    const { z } = zone();
    z.addToFreeList(3, 0, MIGRATE.MOVABLE, false); // inside the order-1 block at 2
    assert.ok(rules(checkBuddy(z)).includes("overlap"));
    assert.equal(checkBuddy(z).find((v) => v.rule === "overlap")!.pfn, 3);
  });
  await t.step("stray-buddy: PG.buddy on an allocated frame", () => {
    const { mem, z, first } = zone();
    mem.flags[first]! |= 1 << 24; // PG.buddy
    const v = checkBuddy(z);
    assert.deepEqual(rules(v), ["stray-buddy"]);
    assert.equal(v[0]!.pfn, first);
  });
  await t.step("free-frame-state: a free frame with a reference", () => {
    const { mem, z } = zone();
    mem.refcount[5] = 1; // inside the free order-2 block at 4
    const v = checkBuddy(z);
    assert.deepEqual(rules(v), ["free-frame-state"]);
    assert.equal(v[0]!.pfn, 5);
  });
  await t.step("unmerged-buddies: a frame freed onto the lists without merging", () => {
    const { mem, z, first } = zone();
    mem.refcount[first] = 0;
    z.addToFreeList(first, 0, MIGRATE.MOVABLE, false); // its buddy 1 is free too
    const v = checkBuddy(z);
    assert.deepEqual(rules(v), ["unmerged-buddies"]);
    assert.equal(v[0]!.pfn, 0);
  });
  await t.step("limit caps the number of reports", () => {
    const { mem, z } = zone();
    for (let p = 8; p < 16; p++) mem.mapcount[p] = 1;
    assert.equal(checkBuddy(z).length, 8);
    assert.equal(checkBuddy(z, 3).length, 3);
  });
});

Deno.test("checkBuddy: pageblock-order buddies may stay apart next to an isolated pageblock", () => {
  const mem = new PhysMem({ nrFrames: 2048 });
  const z = new Zone(mem);
  assert.ok(startIsolatePageRange(z, 512, 1024, MIGRATE.MOVABLE).ok);
  assert.deepEqual(checkBuddy(z), [], "order-9 buddies 0 and 512 apart while 512 is isolated");
  undoIsolatePageRange(z, 512, 1024, MIGRATE.MOVABLE);
  assert.deepEqual(checkBuddy(z), [], "merged again when the isolation ends");
  // The same split without the isolation is a bug.
  z.delFromFreeList(0, 10, MIGRATE.MOVABLE);
  mem.order[0] = 0;
  z.addToFreeList(0, 9, MIGRATE.MOVABLE, true);
  z.addToFreeList(512, 9, MIGRATE.MOVABLE, true);
  assert.deepEqual(rules(checkBuddy(z)), ["unmerged-buddies"]);
});

Deno.test("checkBuddy property: any corrupted field of any free frame is caught at that frame", () => {
  fc.assert(
    fc.property(
      fc.nat(4095),
      fc.constantFrom("refcount", "mapcount", "mapping", "head", "flags") as fc.Arbitrary<
        "refcount" | "mapcount" | "mapping" | "head" | "flags"
      >,
      (p, field) => {
        const { mem, z, first } = zone();
        if (p === first) return;
        switch (field) {
          case "refcount":
            mem.refcount[p] = 1;
            break;
          case "mapcount":
            mem.mapcount[p] = 1;
            break;
          case "mapping":
            mem.mapping[p] = 3;
            break;
          case "head":
            mem.head[p] = p === 1 ? 2 : 1;
            break;
          case "flags":
            mem.flags[p]! |= 1 << 4; // PG_dirty
            break;
        }
        const v = checkBuddy(z);
        assert.ok(
          v.some((x) => x.rule === "free-frame-state" && x.pfn === p),
          `${field} of ${p}: ${JSON.stringify(v)}`,
        );
      },
    ),
    { numRuns: 100 },
  );
});
