import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { exactLruMisses } from "../../../bench/_exact_lru.ts";
import { MinimalBuddy } from "../../../bench/_minimal_buddy.ts";
import { PageCacheReplay } from "../../../mod.ts";

Deno.test("exactLruMisses agrees with the replay's pure LRU", async (t) => {
  await t.step("a hand-checked trace", () => {
    // Cache of 2: 1 2 1 3 (evicts 2) 2 (evicts 1) 1 (evicts 3) → misses 1 2 3 2 1 = 5.
    assert.equal(exactLruMisses(Uint32Array.from([1, 2, 1, 3, 2, 1]), 2), 5);
  });
  await t.step("random traces", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 30 }),
        (xs, cap) => {
          const ids = Uint32Array.from(xs);
          const r = new PageCacheReplay({ capacityPages: cap });
          r.accessIds(ids);
          assert.equal(exactLruMisses(ids, cap), r.misses);
        },
      ),
    );
  });
});

Deno.test("MinimalBuddy keeps every frame accounted for", async (t) => {
  await t.step(
    "free pages on the lists + live blocks = all frames, no free buddies unmerged",
    () => {
      const m = new MinimalBuddy(1 << 14);
      m.churn(20_000);
      let free = 0;
      for (let p = 0; p < m.nrFrames; p++) {
        const s = m.state[p]!;
        if (s === 0) continue;
        const o = s - 1;
        free += 1 << o;
        if (o < m.maxOrder) assert.notEqual(m.state[p ^ (1 << o)], s, `unmerged buddies at ${p}`);
      }
      assert.equal(free + m.used, m.nrFrames);
      assert.ok(Math.abs(m.used / m.nrFrames - 0.5) < 0.05);
    },
  );
});
