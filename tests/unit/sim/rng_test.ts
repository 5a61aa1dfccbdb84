import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Rng } from "../../../mod.ts";

Deno.test("Rng is deterministic per seed and split streams are independent", async (t) => {
  await t.step("same seed, same sequence", () => {
    const a = new Rng(123), b = new Rng(123);
    for (let i = 0; i < 100; i++) assert.equal(a.nextU32(), b.nextU32());
  });
  await t.step("a split stream does not depend on how often the parent draws", () => {
    const a = new Rng(5), b = new Rng(5);
    const sa = a.split(), sb = b.split();
    for (let i = 0; i < 10; i++) a.nextU32();
    assert.deepEqual([sa.int(1000), sa.int(1000)], [sb.int(1000), sb.int(1000)]);
  });
  await t.step("int(n) stays in range and float in [0,1)", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 32 }), fc.integer(), (n, seed) => {
      const r = new Rng(seed);
      const v = r.int(n);
      const f = r.float();
      return v >= 0 && v < n && Number.isInteger(v) && f >= 0 && f < 1;
    }));
  });
  await t.step("int rejects bad bounds with the value in the message", () => {
    assert.throws(() => new Rng(1).int(0), /got 0/);
  });
  await t.step("uniformity: 6 buckets within 5% over 60k draws", () => {
    const r = new Rng(77);
    const c = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) c[r.int(6)]++;
    for (const x of c) assert.ok(Math.abs(x - 10_000) < 500, `bucket ${x}`);
  });
});
