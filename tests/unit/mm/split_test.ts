import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Engine } from "../../../lib/sim/engine.ts";
import {
  AddressSpace,
  type AddressSpaceOperations,
  filemapAddFolio,
  filemapGetEntry,
} from "../../../lib/mm/address_space.ts";
import {
  folioAlloc,
  folioAttachPrivate,
  folioGet,
  folioGetPrivate,
  folioPut,
} from "../../../lib/mm/folio.ts";
import { FRAGMENT_MAPPING } from "../../../lib/mm/fragment.ts";
import { LRU_INACTIVE_FILE } from "../../../lib/mm/lru.ts";
import { NIL, PG } from "../../../lib/mm/memory.ts";
import { Mm } from "../../../lib/mm/mm.ts";
import {
  canSplitFolio,
  folioSplit,
  minOrderForSplit,
  splitFolio,
  splitFolioToList,
  splitHugePageToListToOrder,
  tryFolioSplitToOrder,
} from "../../../lib/mm/split.ts";
import { lruAddFragmentFolios } from "../../../lib/mm/compaction.ts";
import { folioMarkDirty, folioStartWriteback } from "../../../lib/mm/writeback.ts";

function setup(
  o: { version?: string; minOrder?: number; aops?: AddressSpaceOperations; nrFrames?: number } = {},
) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, {
    memory: { nrFrames: o.nrFrames ?? 4096 },
    version: o.version ?? "6.16",
  });
  const mapping = AddressSpace.create(mm, {
    name: "file",
    minOrder: o.minOrder ?? 0,
    maxOrder: 9,
    aops: o.aops ?? {},
  });
  return { env, mm, mapping };
}

/** A locked, uptodate page-cache folio of `order` at index 0 held by us and the cache. */
function lockedFolio(mm: Mm, mapping: AddressSpace, order: number): number {
  const f = folioAlloc(mm, order);
  assert.ok(filemapAddFolio(mm, mapping, f, 0).ok);
  mm.mem.setFlag(f, PG.uptodate);
  mm.mem.setFlag(f, PG.locked);
  for (let i = 0; i < 1 << order; i++) mm.mem.data[f + i] = 1000 + i;
  return f;
}

/** Check the split's result: pieces tile the folio, entries and contents are kept. */
function checkPieces(mm: Mm, mapping: AddressSpace, f: number, order: number, pieces: number[]) {
  let next = f;
  for (const p of pieces) {
    assert.equal(p, next, "pieces tile the folio in pfn order");
    const np = 1 << mm.mem.order[p]!;
    assert.equal(p % np, 0, "aligned");
    assert.equal(mm.mem.head[p], NIL);
    for (let t = p + 1; t < p + np; t++) assert.equal(mm.mem.head[t], p);
    assert.equal(mm.mem.index[p], p - f);
    for (let i = 0; i < np; i++) {
      assert.equal(filemapGetEntry(mapping, p - f + i), p, "cache entry");
      assert.equal(mm.mem.data[p + i], 1000 + p - f + i, "contents");
    }
    next = p + np;
  }
  assert.equal(next, f + (1 << order));
}

Deno.test("splitHugePageToListToOrder: uniform split", async (t) => {
  await t.step("order 9 to order 0 gives 512 folios, keeping entries, flags, contents", () => {
    const { env, mm, mapping } = setup();
    const f = lockedFolio(mm, mapping, 9);
    folioMarkDirty(mm, f);
    const lruBefore = mm.lruvec.nrPages[LRU_INACTIVE_FILE];
    const r = splitHugePageToListToOrder(mm, f, 0);
    assert.ok(r.ok);
    assert.equal(r.value.length, 512);
    checkPieces(mm, mapping, f, 9, r.value);
    for (const p of r.value) {
      assert.ok(mm.mem.testFlag(p, PG.uptodate) && mm.mem.testFlag(p, PG.dirty), `flags of ${p}`);
      assert.ok(mm.mem.testFlag(p, PG.lru));
      assert.equal(mm.mem.testFlag(p, PG.locked), p === f, "only the original stays locked");
      assert.equal(mm.mem.refcount[p], p === f ? 2 : 1, "cache + the caller's on the original");
    }
    assert.equal(mm.lruvec.nrPages[LRU_INACTIVE_FILE], lruBefore, "LRU size in pages unchanged");
    assert.equal(mm.lruvec.lists[LRU_INACTIVE_FILE]!.toArray().length, 512);
    assert.equal(mm.vmstat.get("nr_dirty"), 512);
    assert.equal(mm.vmstat.get("thp_split_page"), 1);
    assert.deepEqual(env.violations, []);
  });
  await t.step("order 9 to order 3 gives 64 folios", () => {
    const { mm, mapping } = setup();
    const f = lockedFolio(mm, mapping, 9);
    const r = splitHugePageToListToOrder(mm, f, 3);
    assert.ok(r.ok);
    assert.equal(r.value.length, 64);
    checkPieces(mm, mapping, f, 9, r.value);
  });
  await t.step("with a list: the new folios get an extra reference and stay off the LRU", () => {
    const { mm, mapping } = setup();
    const f = lockedFolio(mm, mapping, 2);
    const list: number[] = [];
    const r = splitHugePageToListToOrder(mm, f, 0, list);
    assert.ok(r.ok);
    assert.deepEqual(list, [f + 1, f + 2, f + 3]);
    for (const p of list) {
      assert.equal(mm.mem.refcount[p], 2);
      assert.ok(!mm.mem.testFlag(p, PG.lru));
    }
  });
});

Deno.test("folioSplit: non-uniform split (v6.15+)", async (t) => {
  await t.step("order 9 around one page gives 10 folios: orders 8..1, 0, 0", () => {
    const { env, mm, mapping } = setup({ version: "6.16" });
    const f = lockedFolio(mm, mapping, 9);
    const r = folioSplit(mm, f, 0, f + 300);
    assert.ok(r.ok);
    assert.equal(r.value.length, 10);
    checkPieces(mm, mapping, f, 9, r.value);
    const orders = r.value.map((p) => mm.mem.order[p]!).sort((a, b) => b - a);
    assert.deepEqual(orders, [8, 7, 6, 5, 4, 3, 2, 1, 0, 0]);
    assert.equal(mm.mem.order[filemapGetEntry(mapping, 300)], 0, "page 300 is alone");
    assert.deepEqual(env.violations, []);
  });
  await t.step("order 13 gives 14 folios (512 MiB with 64 KiB pages)", () => {
    const env = new Engine();
    const mm = new Mm(env, {
      memory: { nrFrames: 1 << 14, pageSizeBytes: 65536 },
      version: "6.16",
    });
    const mapping = AddressSpace.create(mm, { name: "f", maxOrder: 13 });
    const f = lockedFolio(mm, mapping, 13);
    const r = folioSplit(mm, f, 0, f);
    assert.ok(r.ok);
    assert.equal(r.value.length, 14);
    assert.equal(mm.vmstat.get("thp_split_page"), 1, "order 13 is the PMD order with 64 KiB");
  });
  await t.step("before v6.15 there is no non-uniform split", () => {
    const { mm, mapping } = setup({ version: "6.14" });
    const f = lockedFolio(mm, mapping, 9);
    const r = folioSplit(mm, f, 0, f);
    assert.ok(!r.ok && r.errno === "EINVAL");
    const t2 = tryFolioSplitToOrder(mm, f, f, 0);
    assert.ok(t2.ok && t2.value.length === 512, "try_folio_split falls back to uniform");
  });
  await t.step("an anonymous folio skips order 1: order 3 → 2, 0, 0, 0, 0", () => {
    const { mm } = setup();
    const f = folioAlloc(mm, 3);
    mm.mem.mapping[f] = FRAGMENT_MAPPING;
    lruAddFragmentFolios(mm); // every page mapped once, on the LRU
    mm.mem.setFlag(f, PG.locked);
    folioGet(mm, f); // ours
    const r = folioSplit(mm, f, 0, f);
    assert.ok(r.ok);
    assert.deepEqual(r.value.map((p) => mm.mem.order[p]), [0, 0, 0, 0, 2]);
    assert.deepEqual(r.value.map((p) => mm.mem.mapcount[p]), [1, 1, 1, 1, 4]);
    assert.deepEqual(r.value.map((p) => mm.mem.refcount[p]), [2, 1, 1, 1, 4]);
  });
});

Deno.test("split below the mapping's minimum order (thread 004, C4.2)", async (t) => {
  await t.step("min order 2: split_folio fails (-EINVAL) in the v6.19 era", () => {
    const { mm, mapping } = setup({ version: "6.19", minOrder: 2 });
    const f = lockedFolio(mm, mapping, 4);
    const r = splitFolio(mm, f);
    assert.ok(!r.ok && r.errno === "EINVAL");
    assert.equal(mm.mem.order[f], 4, "not split");
    assert.equal(mm.vmstat.get("split_failed_min_order"), 1);
  });
  await t.step("min order 2: split_folio silently yields order-2 folios before", () => {
    const { mm, mapping } = setup({ version: "6.12", minOrder: 2 });
    const f = lockedFolio(mm, mapping, 4);
    const r = splitFolio(mm, f);
    assert.ok(r.ok);
    assert.deepEqual(r.value.map((p) => mm.mem.order[p]), [2, 2, 2, 2]);
    checkPieces(mm, mapping, f, 4, r.value);
  });
  await t.step("an explicit order below the minimum fails in every era", () => {
    for (const version of ["6.12", "6.19"]) {
      const { mm, mapping } = setup({ version, minOrder: 2 });
      const f = lockedFolio(mm, mapping, 4);
      const r = splitHugePageToListToOrder(mm, f, 1);
      assert.ok(!r.ok && r.errno === "EINVAL", version);
      const m = minOrderForSplit(mm, f);
      assert.ok(m.ok && m.value === 2);
    }
  });
});

Deno.test("split refusals: release, writeback, references", async (t) => {
  const iomap: AddressSpaceOperations = {
    releaseFolio: (mm, _m, folio) => {
      // iomap_release_folio(): refuse dirty folios; else free the per-block state.
      if (mm.mem.testFlag(folio, PG.dirty)) return false;
      mm.mem.clearFlag(folio, PG.private);
      mm.mem.private[folio] = 0;
      folioPut(mm, folio);
      return true;
    },
  };
  await t.step("iomap refuses a dirty folio: -EBUSY; a clean one releases its private data", () => {
    const { mm, mapping } = setup({ aops: iomap });
    const f = lockedFolio(mm, mapping, 9);
    folioAttachPrivate(mm, f, { blocks: 512 });
    folioMarkDirty(mm, f);
    const r = splitHugePageToListToOrder(mm, f, 0);
    assert.ok(!r.ok && r.errno === "EBUSY");
    assert.equal(mm.vmstat.get("split_failed_release"), 1);
    assert.equal(mm.vmstat.get("thp_split_page_failed"), 1);
    assert.ok(folioGetPrivate(mm, f), "private data kept");

    const s2 = setup({ aops: iomap });
    const g = lockedFolio(s2.mm, s2.mapping, 9);
    folioAttachPrivate(s2.mm, g, { blocks: 512 });
    const r2 = splitHugePageToListToOrder(s2.mm, g, 0);
    assert.ok(r2.ok && r2.value.length === 512);
    assert.ok(r2.value.every((p) => !s2.mm.mem.testFlag(p, PG.private)), "released");
  });
  await t.step("a folio under writeback: -EBUSY", () => {
    const { mm, mapping } = setup();
    const f = lockedFolio(mm, mapping, 9);
    folioStartWriteback(mm, f);
    const r = splitHugePageToListToOrder(mm, f, 0);
    assert.ok(!r.ok && r.errno === "EBUSY");
    assert.equal(mm.vmstat.get("split_failed_writeback"), 1);
  });
  await t.step("an extra reference: -EAGAIN", () => {
    const { mm, mapping } = setup();
    const f = lockedFolio(mm, mapping, 9);
    folioGet(mm, f);
    assert.ok(!canSplitFolio(mm, f, 1));
    const r = splitHugePageToListToOrder(mm, f, 0);
    assert.ok(!r.ok && r.errno === "EAGAIN");
    assert.equal(mm.vmstat.get("split_failed_refs"), 1);
    assert.equal(mm.mem.order[f], 9);
  });
  await t.step("a truncated folio: -EBUSY", () => {
    const { mm, mapping } = setup();
    const f = lockedFolio(mm, mapping, 2);
    mm.mem.mapping[f] = 0;
    const r = splitHugePageToListToOrder(mm, f, 0);
    assert.ok(!r.ok && r.errno === "EBUSY");
    mm.mem.mapping[f] = mapping.id;
  });
  await t.step("split_folio_to_list of a folio that is not split-able leaves it whole", () => {
    const { mm, mapping } = setup();
    const f = lockedFolio(mm, mapping, 3);
    folioGet(mm, f);
    const list: number[] = [];
    assert.ok(!splitFolioToList(mm, f, list).ok);
    assert.deepEqual(list, []);
  });
});

Deno.test("split property: pieces tile the folio, entries and contents survive", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 0, max: 8 }),
      fc.integer({ min: 0, max: 511 }),
      fc.boolean(),
      (order, newOrderRaw, at, uniform) => {
        const newOrder = newOrderRaw % order;
        const { env, mm, mapping } = setup({ nrFrames: 2048 });
        const f = lockedFolio(mm, mapping, order);
        const splitAt = f + (at % (1 << order));
        const r = uniform
          ? splitHugePageToListToOrder(mm, f, newOrder)
          : folioSplit(mm, f, newOrder, splitAt);
        assert.ok(r.ok);
        checkPieces(mm, mapping, f, order, r.value);
        assert.equal(
          r.value.length,
          uniform ? 1 << (order - newOrder) : order - newOrder + 1,
        );
        if (!uniform) {
          const owner = mm.mem.compoundHead(splitAt);
          assert.equal(mm.mem.order[owner], newOrder, "split_at ends in a new_order folio");
        }
        let pages = 0;
        for (const p of r.value) pages += mm.mem.refcount[p]! - (p === f ? 1 : 0);
        assert.equal(pages, 1 << order, "one cache reference per page, plus ours");
        assert.deepEqual(env.violations, []);
      },
    ),
    { numRuns: 80, seed: 9 },
  );
});
