import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { MIGRATE, NIL, PG, PhysMem, PhysMemConfig, pmdOrder } from "../../../mod.ts";

Deno.test("PhysMem geometry follows the base page size", async (t) => {
  await t.step("PMD order: a page-table page of 8-byte entries (2 MiB, 32 MiB, 512 MiB)", () => {
    for (
      const [size, pmdBytes] of [[4096, 2 ** 21], [16384, 2 ** 25], [65536, 2 ** 29]] as const
    ) {
      assert.equal(size * 2 ** pmdOrder(size), pmdBytes);
    }
  });
  await t.step("4 KiB: MAX_PAGE_ORDER 10, pageblock order 9 (a PMD)", () => {
    const m = new PhysMem({ nrFrames: 2048 });
    assert.deepEqual([m.pageSizeBytes, m.maxOrder, m.pageblockOrder], [4096, 10, 9]);
    assert.equal(m.nrPageblocks, 4);
  });
  await t.step("16 KiB and 64 KiB: arm64's orders (11 and 13), pageblock = PMD", () => {
    const a = new PhysMem({ nrFrames: 4096, pageSizeBytes: 16384 });
    assert.deepEqual([a.maxOrder, a.pageblockOrder], [11, 11]);
    const b = new PhysMem({ nrFrames: 8192, pageSizeBytes: 65536 });
    assert.deepEqual([b.maxOrder, b.pageblockOrder], [13, 13]);
    assert.equal(b.nrPageblocks * (1 << b.pageblockOrder) * 65536, 512 * 2 ** 20);
  });
  await t.step("pageblock order never exceeds the configured max order", () => {
    const m = new PhysMem({ nrFrames: 1024, maxOrder: 5 });
    assert.deepEqual([m.maxOrder, m.pageblockOrder], [5, 5]);
  });
  await t.step("a partial last pageblock counts; every pageblock starts MOVABLE", () => {
    const m = new PhysMem({ nrFrames: 1000 });
    assert.equal(m.nrPageblocks, 2);
    assert.ok(m.pageblockMigratetype.every((mt) => mt === MIGRATE.MOVABLE));
    assert.equal(m.pageblockOf(511), 0);
    assert.equal(m.pageblockOf(512), 1);
  });
  await t.step("45 bytes of typed-array state per frame plus a byte per pageblock", () => {
    const m = new PhysMem({ nrFrames: 4096 });
    assert.equal(m.bytesPerFrame(), 45 + m.nrPageblocks / 4096);
  });
});

Deno.test("PhysMem frames start free and unlinked", () => {
  const m = new PhysMem({ nrFrames: 16 });
  for (let pfn = 0; pfn < 16; pfn++) {
    assert.deepEqual(
      [m.flags[pfn], m.refcount[pfn], m.mapcount[pfn], m.head[pfn], m.next[pfn], m.prev[pfn]],
      [0, 0, 0, NIL, NIL, NIL],
    );
    assert.equal(m.compoundHead(pfn), pfn);
  }
});

Deno.test("PhysMem flag operations are the kernel's bitops", async (t) => {
  await t.step(
    "PG_readahead and PG_reclaim are one bit: setting one reads back as the other",
    () => {
      const m = new PhysMem({ nrFrames: 4 });
      m.setFlag(1, PG.reclaim);
      assert.equal(m.testFlag(1, PG.readahead), true);
      m.clearFlag(1, PG.readahead);
      assert.equal(m.testFlag(1, PG.reclaim), false);
    },
  );
  await t.step("test_and_set / test_and_clear return the old value", () => {
    const m = new PhysMem({ nrFrames: 4 });
    assert.equal(m.testAndSetFlag(2, PG.locked), false);
    assert.equal(m.testAndSetFlag(2, PG.locked), true);
    assert.equal(m.testAndClearFlag(2, PG.locked), true);
    assert.equal(m.testAndClearFlag(2, PG.locked), false);
  });
  await t.step("property: bit operations touch only their bit of their frame", () => {
    const bits = [...new Set(Object.values(PG))];
    fc.assert(
      fc.property(
        fc.array(fc.record({
          op: fc.constantFrom("set", "clear", "tas", "tac"),
          pfn: fc.nat(7),
          bit: fc.constantFrom(...bits),
        })),
        (ops) => {
          const m = new PhysMem({ nrFrames: 8 });
          const ref = new Array(8).fill(0).map(() => new Set<number>());
          for (const { op, pfn, bit } of ops) {
            const old = ref[pfn]!.has(bit);
            if (op === "set") m.setFlag(pfn, bit);
            else if (op === "clear") m.clearFlag(pfn, bit);
            else if (op === "tas") assert.equal(m.testAndSetFlag(pfn, bit), old);
            else assert.equal(m.testAndClearFlag(pfn, bit), old);
            if (op === "set" || op === "tas") ref[pfn]!.add(bit);
            else ref[pfn]!.delete(bit);
            for (let p = 0; p < 8; p++) {
              for (const b of bits) assert.equal(m.testFlag(p, b), ref[p]!.has(b));
            }
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

Deno.test("PhysMem.compoundHead follows head[] of tail frames", () => {
  const m = new PhysMem({ nrFrames: 16 });
  m.order[4] = 2;
  for (let i = 5; i < 8; i++) m.head[i] = 4;
  assert.deepEqual([4, 5, 6, 7, 8].map((p) => m.compoundHead(p)), [4, 4, 4, 4, 8]);
});

Deno.test("PhysMemConfig names the bad field", () => {
  for (
    const [input, field] of [
      [{ nrFrames: 0 }, "nrFrames"],
      [{ nrFrames: 1.5 }, "nrFrames"],
      [{ pageSizeBytes: 8192 }, "pageSizeBytes"],
      [{ maxOrder: 30 }, "maxOrder"],
    ] as const
  ) {
    const r = PhysMemConfig.safeParse(input);
    assert.equal(r.success, false, JSON.stringify(input));
    if (!r.success) assert.equal(r.error.issues[0]!.path[0], field);
    assert.throws(() => new PhysMem(input as never), new RegExp(`Invalid PhysMemConfig: ${field}`));
  }
  assert.equal(PhysMemConfig.parse({}).nrFrames, 262_144, "1 GiB of 4 KiB pages");
});
