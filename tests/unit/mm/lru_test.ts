import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  folioActivate,
  folioAddLru,
  folioIsolateLru,
  FolioList,
  folioLruList,
  folioMarkAccessed,
  folioPutbackLru,
  folioRotateReclaimable,
  inactiveIsLow,
  isolateLruFolios,
  LRU_ACTIVE_ANON,
  LRU_ACTIVE_FILE,
  LRU_INACTIVE_ANON,
  LRU_INACTIVE_FILE,
  LRU_UNEVICTABLE,
  Lruvec,
  NIL,
  NR_LRU_LISTS,
  PG,
  PhysMem,
  PureLru,
  shrinkActiveList,
} from "../../../mod.ts";

function setup(n: number, config: ConstructorParameters<typeof Lruvec>[1] = {}) {
  const mem = new PhysMem({ nrFrames: n });
  const lruvec = new Lruvec(mem, config);
  const freed: number[] = [];
  lruvec.freeFolio = (pfn) => freed.push(pfn);
  for (let p = 0; p < n; p++) mem.refcount[p] = 1;
  return { mem, lruvec, freed };
}

const state = (mem: PhysMem, pfn: number) =>
  (["lru", "active", "referenced", "unevictable", "workingset"] as const)
    .filter((f) => mem.testFlag(pfn, PG[f])).join(",");

/** Check the lists against the flags and sizes, like a VM_BUG_ON sweep. */
function checkLruvec(lruvec: Lruvec): void {
  const mem = lruvec.mem;
  const onList = new Map<number, number>();
  for (let lru = 0; lru < NR_LRU_LISTS; lru++) {
    const l = lruvec.lists[lru]!;
    let pages = 0, prev = NIL;
    for (let p = l.first; p !== NIL; p = mem.next[p]!) {
      assert.equal(mem.prev[p], prev, `prev link of ${p}`);
      assert.ok(!onList.has(p), `frame ${p} on two lists`);
      onList.set(p, lru);
      assert.equal(folioLruList(mem, p), lru, `frame ${p} flags name its list`);
      pages += 1 << mem.order[p]!;
      prev = p;
    }
    assert.equal(l.last, prev);
    if (lru !== LRU_UNEVICTABLE) assert.equal(lruvec.nrPages[lru], pages, `size of list ${lru}`);
  }
  for (let p = 0; p < mem.nrFrames; p++) {
    const lru = mem.testFlag(p, PG.lru);
    if (lru && !mem.testFlag(p, PG.unevictable)) assert.ok(onList.has(p), `PG_lru ${p} listed`);
    if (!lru) assert.ok(!onList.has(p), `frame ${p} listed without PG_lru`);
  }
}

Deno.test("folioMarkAccessed follows the three transitions of mm/swap.c", async (t) => {
  await t.step("inactive,unref -> inactive,ref -> active,unref -> active,ref", () => {
    const { mem, lruvec } = setup(4);
    folioAddLru(lruvec, 0);
    const timeline = [state(mem, 0)];
    for (let i = 0; i < 3; i++) {
      folioMarkAccessed(lruvec, 0);
      timeline.push(state(mem, 0));
    }
    assert.deepEqual(timeline, ["lru", "lru,referenced", "lru,active", "lru,active,referenced"]);
    assert.equal(lruvec.nrPages[LRU_ACTIVE_FILE], 1);
    assert.equal(lruvec.lists[LRU_ACTIVE_FILE]!.first, 0);
    assert.equal(lruvec.events.pgactivate, 1);
    assert.equal(lruvec.nonresidentAge, 1, "workingset_activation ages the nonresident clock");
    checkLruvec(lruvec);
  });
  await t.step("an unevictable folio is never activated", () => {
    const { mem, lruvec } = setup(4);
    mem.setFlag(1, PG.mlocked);
    folioAddLru(lruvec, 1);
    folioMarkAccessed(lruvec, 1);
    folioMarkAccessed(lruvec, 1);
    assert.equal(state(mem, 1), "lru,referenced,unevictable");
    assert.equal(lruvec.nrPages[LRU_UNEVICTABLE], 1);
    checkLruvec(lruvec);
  });
  await t.step("an isolated folio loses PG_referenced but is not activated", () => {
    const { mem, lruvec } = setup(4);
    folioAddLru(lruvec, 2);
    folioMarkAccessed(lruvec, 2);
    assert.ok(folioIsolateLru(lruvec, 2));
    folioMarkAccessed(lruvec, 2);
    assert.equal(state(mem, 2), "");
    folioPutbackLru(lruvec, 2);
    assert.equal(folioLruList(mem, 2), LRU_INACTIVE_FILE);
    checkLruvec(lruvec);
  });
  await t.step("anon folios (PG_swapbacked) use the anon lists", () => {
    const { mem, lruvec } = setup(4);
    mem.setFlag(3, PG.swapbacked);
    folioAddLru(lruvec, 3);
    assert.equal(lruvec.nrPages[LRU_INACTIVE_ANON], 1);
    folioMarkAccessed(lruvec, 3);
    folioMarkAccessed(lruvec, 3);
    assert.equal(lruvec.nrPages[LRU_ACTIVE_ANON], 1);
    checkLruvec(lruvec);
  });
});

Deno.test("folioAddLru checks PG_lru and sorts unevictable folios", async (t) => {
  await t.step("adding a folio already on the LRU is a model bug", () => {
    const { lruvec } = setup(2);
    folioAddLru(lruvec, 0);
    assert.throws(() => folioAddLru(lruvec, 0), /folio_add_lru: folio 0 is already on an LRU/);
  });
  await t.step(
    "an mlocked active folio goes to LRU_UNEVICTABLE, inactive, counted, unlisted",
    () => {
      const { mem, lruvec } = setup(2);
      mem.setFlag(0, PG.mlocked);
      mem.setFlag(0, PG.active);
      mem.order[0] = 1;
      folioAddLru(lruvec, 0);
      assert.equal(state(mem, 0), "lru,unevictable");
      assert.equal(lruvec.nrPages[LRU_UNEVICTABLE], 2);
      assert.equal(lruvec.lists[LRU_UNEVICTABLE]!.first, NIL);
      assert.equal(lruvec.events.unevictablePgculled, 2);
    },
  );
  await t.step("a folio of an unevictable mapping is unevictable; rescued once it is not", () => {
    const { mem, lruvec } = setup(2);
    let unevictable = true;
    lruvec.mappingUnevictable = (m) => m === 5 && unevictable;
    mem.mapping[1] = 5;
    folioAddLru(lruvec, 1);
    assert.equal(folioLruList(mem, 1), LRU_UNEVICTABLE);
    assert.ok(folioIsolateLru(lruvec, 1));
    unevictable = false;
    folioPutbackLru(lruvec, 1);
    assert.equal(folioLruList(mem, 1), LRU_INACTIVE_FILE);
    assert.equal(lruvec.events.unevictablePgrescued, 1);
    checkLruvec(lruvec);
  });
});

Deno.test("folioIsolateLru and folioPutbackLru keep the reference rules", async (t) => {
  await t.step("isolation takes a reference and clears PG_lru, putback drops it", () => {
    const { mem, lruvec } = setup(2);
    folioAddLru(lruvec, 0);
    folioActivate(lruvec, 0);
    assert.ok(folioIsolateLru(lruvec, 0));
    assert.deepEqual([mem.refcount[0], state(mem, 0)], [2, "active"]);
    assert.equal(lruvec.nrPages[LRU_ACTIVE_FILE], 0);
    assert.equal(folioPutbackLru(lruvec, 0), false);
    assert.deepEqual([mem.refcount[0], state(mem, 0)], [1, "lru,active"]);
    assert.equal(lruvec.nrPages[LRU_ACTIVE_FILE], 1, "back on the active list");
  });
  await t.step("isolating a folio with no reference is a model bug", () => {
    const { mem, lruvec } = setup(2);
    folioAddLru(lruvec, 1);
    mem.refcount[1] = 0;
    assert.throws(() => folioIsolateLru(lruvec, 1), /folio_isolate_lru: folio 1 has refcount 0/);
  });
  await t.step("putback dropping the last reference frees the folio off the LRU", () => {
    const { mem, lruvec, freed } = setup(2);
    folioAddLru(lruvec, 0);
    folioIsolateLru(lruvec, 0);
    mem.refcount[0] = 1; // everyone else let go while it was isolated
    assert.equal(folioPutbackLru(lruvec, 0), true);
    assert.deepEqual(freed, [0]);
    assert.equal(state(mem, 0), "");
    checkLruvec(lruvec);
  });
  await t.step("without a freeFolio hook that is reported, not ignored", () => {
    const mem = new PhysMem({ nrFrames: 2 });
    const lruvec = new Lruvec(mem);
    mem.refcount[0] = 1;
    folioAddLru(lruvec, 0);
    folioIsolateLru(lruvec, 0);
    mem.refcount[0] = 1;
    assert.throws(() => folioPutbackLru(lruvec, 0), /Cannot free folio 0/);
  });
});

Deno.test("isolateLruFolios scans from the tail", async (t) => {
  await t.step("takes the oldest folios, counts pages, rotates what it cannot take", () => {
    const { mem, lruvec } = setup(8);
    for (let p = 0; p < 6; p++) folioAddLru(lruvec, p); // head: 5 4 3 2 1 0 :tail
    mem.order[1] = 1; // a two-page folio (its tail frame 2 is not used below)
    lruvec.lists[LRU_INACTIVE_FILE]!.del(2);
    lruvec.nrPages[LRU_INACTIVE_FILE]! -= 1;
    mem.clearFlag(2, PG.lru);
    lruvec.nrPages[LRU_INACTIVE_FILE]! += 1; // folio 1 is two pages
    mem.refcount[0] = 0; // being freed: folio_try_get fails
    const dst = new FolioList(mem);
    const taken = isolateLruFolios(lruvec, 4, dst, LRU_INACTIVE_FILE);
    assert.equal(taken, 3, "folio 1 (2 pages) and folio 3");
    assert.equal(lruvec.nrScanned, 4);
    assert.deepEqual(dst.toArray(), [3, 1]);
    assert.deepEqual(lruvec.lists[LRU_INACTIVE_FILE]!.toArray(), [0, 5, 4]);
    assert.equal(lruvec.nrPages[LRU_INACTIVE_FILE], 3);
    assert.deepEqual([mem.refcount[1], mem.refcount[3]], [2, 2]);
    assert.ok(!mem.testFlag(1, PG.lru) && !mem.testFlag(3, PG.lru));
  });
  await t.step("with mayUnmap false, mapped folios stay on the list", () => {
    const { mem, lruvec } = setup(4);
    for (let p = 0; p < 4; p++) folioAddLru(lruvec, p);
    mem.mapcount[0] = 1;
    const dst = new FolioList(mem);
    assert.equal(isolateLruFolios(lruvec, 2, dst, LRU_INACTIVE_FILE, false), 1);
    assert.deepEqual(dst.toArray(), [1]);
    assert.deepEqual(lruvec.lists[LRU_INACTIVE_FILE]!.toArray(), [0, 3, 2]);
  });
});

Deno.test("shrinkActiveList deactivates from the active tail", async (t) => {
  const fill = (config: ConstructorParameters<typeof Lruvec>[1]) => {
    const s = setup(8, config);
    for (let p = 0; p < 6; p++) {
      folioAddLru(s.lruvec, p);
      folioActivate(s.lruvec, p);
    } // active: 5 4 3 2 1 0
    folioAddLru(s.lruvec, 6); // inactive: 6
    s.mem.setFlag(1, PG.referenced);
    return s;
  };
  await t.step("no_ptes: every scanned folio moves to the inactive head, order kept", () => {
    const { mem, lruvec } = fill({});
    assert.equal(shrinkActiveList(lruvec, 3, LRU_ACTIVE_FILE), 3);
    assert.deepEqual(lruvec.lists[LRU_ACTIVE_FILE]!.toArray(), [5, 4, 3]);
    assert.deepEqual(lruvec.lists[LRU_INACTIVE_FILE]!.toArray(), [2, 1, 0, 6]);
    assert.equal(state(mem, 1), "lru,referenced,workingset", "PG_referenced survives");
    assert.deepEqual([lruvec.events.pgrefill, lruvec.events.pgdeactivate], [3, 3]);
    assert.deepEqual([mem.refcount[0], mem.refcount[1], mem.refcount[2]], [1, 1, 1]);
    checkLruvec(lruvec);
  });
  await t.step("pg_referenced: a referenced folio rotates to the active head, bit cleared", () => {
    const { mem, lruvec } = fill({ folioReferenced: "pg_referenced" });
    assert.equal(shrinkActiveList(lruvec, 3, LRU_ACTIVE_FILE), 2);
    assert.deepEqual(lruvec.lists[LRU_ACTIVE_FILE]!.toArray(), [1, 5, 4, 3]);
    assert.deepEqual(lruvec.lists[LRU_INACTIVE_FILE]!.toArray(), [2, 0, 6]);
    assert.equal(state(mem, 1), "lru,active");
    assert.equal(lruvec.fileCost, 1, "1 rotated page noted (1 <= lrusize 7 / 4: no decay)");
    checkLruvec(lruvec);
  });
  await t.step("an unevictable folio found on the active list is put back as unevictable", () => {
    const { mem, lruvec } = fill({});
    mem.setFlag(0, PG.mlocked);
    assert.equal(shrinkActiveList(lruvec, 1, LRU_ACTIVE_FILE), 0);
    assert.equal(folioLruList(mem, 0), LRU_UNEVICTABLE);
    assert.equal(lruvec.nrPages[LRU_UNEVICTABLE], 1);
    checkLruvec(lruvec);
  });
});

Deno.test("folioRotateReclaimable moves a clean inactive folio to the tail", () => {
  const { mem, lruvec } = setup(4);
  for (let p = 0; p < 3; p++) folioAddLru(lruvec, p);
  folioActivate(lruvec, 2);
  assert.ok(folioRotateReclaimable(lruvec, 2), "active folios are deactivated to the tail");
  mem.setFlag(1, PG.dirty);
  assert.ok(!folioRotateReclaimable(lruvec, 1), "dirty folios stay");
  assert.deepEqual(lruvec.lists[LRU_INACTIVE_FILE]!.toArray(), [1, 0, 2]);
  assert.equal(lruvec.events.pgrotated, 1);
  checkLruvec(lruvec);
});

Deno.test("inactiveIsLow uses int_sqrt(10 * gb)", async (t) => {
  const { lruvec } = setup(1);
  const GiB = 262_144; // 4 KiB pages
  const at = (inactive: number, active: number) => {
    lruvec.nrPages[LRU_INACTIVE_FILE] = inactive;
    lruvec.nrPages[LRU_ACTIVE_FILE] = active;
    return inactiveIsLow(lruvec, LRU_INACTIVE_FILE);
  };
  await t.step("below 1 GiB the ratio is 1", () => {
    assert.deepEqual([at(100, 100), at(99, 100)], [false, true]);
  });
  await t.step("at 10 GiB the ratio is 10", () => {
    const total = 10 * GiB;
    const inactive = total / 11; // inactive * 10 == active (not low)
    assert.equal(at(Math.ceil(inactive), total - Math.ceil(inactive)), false);
    assert.equal(at(Math.ceil(inactive) - 2, total - Math.ceil(inactive) + 2), true);
  });
  await t.step("64 KiB pages count GiB with their own page shift", () => {
    const mem = new PhysMem({ nrFrames: 1, pageSizeBytes: 65536 });
    const l = new Lruvec(mem);
    const gib = 16_384; // 64 KiB pages per GiB
    l.nrPages[LRU_INACTIVE_FILE] = gib;
    l.nrPages[LRU_ACTIVE_FILE] = 10 * gib; // 11 GiB: ratio int_sqrt(110) = 10
    assert.equal(inactiveIsLow(l, LRU_INACTIVE_FILE), false);
    l.nrPages[LRU_ACTIVE_FILE] = 10 * gib + 1;
    assert.equal(inactiveIsLow(l, LRU_INACTIVE_FILE), true);
  });
});

Deno.test("Lruvec lists stay consistent under random operations", () => {
  const N = 12;
  const opArb = fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: N - 1 }));
  fc.assert(
    fc.property(
      fc.array(opArb, { maxLength: 200, size: "large" }),
      fc.constantFrom("no_ptes" as const, "pg_referenced" as const),
      (ops, folioReferenced) => {
        const { mem, lruvec } = setup(N, { folioReferenced });
        const isolated = new Set<number>();
        for (const [op, pfn] of ops) {
          const onLru = mem.testFlag(pfn, PG.lru);
          switch (op) {
            case 0:
              if (!onLru && !isolated.has(pfn)) folioAddLru(lruvec, pfn);
              break;
            case 1:
              folioMarkAccessed(lruvec, pfn);
              break;
            case 2:
              if (folioIsolateLru(lruvec, pfn)) isolated.add(pfn);
              break;
            case 3:
              if (isolated.delete(pfn)) folioPutbackLru(lruvec, pfn);
              break;
            case 4:
              shrinkActiveList(lruvec, pfn, LRU_ACTIVE_FILE);
              break;
            case 5: {
              const dst = new FolioList(mem);
              isolateLruFolios(lruvec, pfn, dst, LRU_INACTIVE_FILE);
              for (let p = dst.popTail(); p !== NIL; p = dst.popTail()) isolated.add(p);
              break;
            }
            case 6:
              folioRotateReclaimable(lruvec, pfn);
              break;
          }
          checkLruvec(lruvec);
          for (let p = 0; p < N; p++) assert.equal(mem.refcount[p], isolated.has(p) ? 2 : 1);
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("PureLru evicts the least recently used frame", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { size: "large" }), (accesses) => {
      const mem = new PhysMem({ nrFrames: 10 });
      const lru = new PureLru(mem);
      const stamp: number[] = [];
      accesses.forEach((p, t) => {
        if (mem.testFlag(p, PG.lru)) lru.access(p);
        else lru.add(p);
        stamp[p] = t;
      });
      // Eviction order = ascending last-access time.
      const expected = [...new Set(accesses)].sort((a, b) => stamp[a]! - stamp[b]!);
      const got: number[] = [];
      for (let p = lru.evict(); p !== NIL; p = lru.evict()) got.push(p);
      assert.deepEqual(got, expected);
      assert.equal(lru.nrPages, 0);
    }),
  );
});
