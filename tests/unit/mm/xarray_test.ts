import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { XArray } from "../../../lib/mm/_xarray.ts";

type Op = { kind: "store"; index: number; pfn: number } | { kind: "erase"; index: number };

const opArb = (indexArb: fc.Arbitrary<number>): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({
      kind: fc.constant("store" as const),
      index: indexArb,
      pfn: fc.integer({ min: 0, max: 0x7fffffff }),
    }),
    fc.record({ kind: fc.constant("erase" as const), index: indexArb }),
  );

Deno.test("XArray load/store/erase agree with a Map model", async (t) => {
  for (
    const [name, indexArb] of [
      ["dense indices (long probe runs after growth)", fc.integer({ min: 0, max: 64 })],
      ["full uint32 range", fc.integer({ min: 0, max: 2 ** 32 - 1 })],
    ] as const
  ) {
    await t.step(name, () => {
      fc.assert(
        fc.property(fc.array(opArb(indexArb), { maxLength: 400, size: "large" }), (ops) => {
          const xa = new XArray();
          const model = new Map<number, number>();
          for (const op of ops) {
            if (op.kind === "store") {
              assert.equal(xa.store(op.index, op.pfn), model.get(op.index) ?? -1);
              model.set(op.index, op.pfn);
            } else {
              assert.equal(xa.erase(op.index), model.get(op.index) ?? -1);
              model.delete(op.index);
            }
            assert.equal(xa.size, model.size);
          }
          for (const [k, v] of model) assert.equal(xa.load(k), v);
          const seen = new Map<number, number>();
          xa.forEach((k, v) => seen.set(k, v));
          assert.deepEqual(new Map([...seen].sort()), new Map([...model].sort()));
        }),
        { numRuns: 300 },
      );
    });
  }
});

Deno.test("XArray backward-shift deletion leaves no tombstones", async (t) => {
  await t.step("erasing everything empties every probe run", () => {
    const xa = new XArray(4);
    for (let i = 0; i < 10_000; i++) xa.store(i * 7, i);
    const cap = xa.capacity;
    for (let i = 0; i < 10_000; i++) assert.equal(xa.erase(i * 7), i);
    assert.equal(xa.size, 0);
    let visited = 0;
    xa.forEach(() => visited++);
    assert.equal(visited, 0);
    assert.equal(xa.capacity, cap, "no growth from deletes");
    // Churn at constant size never grows the table (a tombstone scheme would need rehashes).
    for (let i = 0; i < 100; i++) xa.store(i, i);
    const cap2 = xa.capacity;
    for (let r = 0; r < 100_000; r++) {
      assert.equal(xa.erase(r), r);
      xa.store(r + 100, r + 100);
    }
    assert.equal(xa.capacity, cap2);
    assert.equal(xa.size, 100);
  });
});

Deno.test("XArray forEach order is deterministic for one operation sequence", () => {
  const run = () => {
    const xa = new XArray();
    for (let i = 0; i < 1000; i++) xa.store((i * 2654435761) >>> 0, i);
    for (let i = 0; i < 1000; i += 3) xa.erase((i * 2654435761) >>> 0);
    const out: number[] = [];
    xa.forEach((k, v) => out.push(k, v));
    return out;
  };
  assert.deepEqual(run(), run());
});

Deno.test("XArray store rejects a pfn that is not an int32 >= 0", () => {
  const xa = new XArray();
  assert.throws(() => xa.store(1, -1), /pfn must be an int32 >= 0, got -1/);
  assert.throws(() => xa.store(1, 1.5), /got 1.5/);
  xa.clear();
  assert.equal(xa.size, 0);
});
