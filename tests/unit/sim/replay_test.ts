import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { decodeSchedule, Engine, random, replayChoices } from "../../../mod.ts";

/** Three tasks of three steps; the step order. */
function run(strategy: ReturnType<typeof random>): { order: string; schedule: string } {
  const e = new Engine({ strategy });
  const order: string[] = [];
  for (const n of ["a", "b", "c"]) {
    e.spawn(n, function* (env) {
      for (let k = 0; k < 3; k++) {
        order.push(n);
        if (k === 1) {
          const v: number = yield env.choose(3);
          order.push(String(v));
        }
        yield env.point();
      }
    });
  }
  const r = e.run();
  return { order: order.join(""), schedule: r.schedule };
}

Deno.test("replayChoices follows recorded choices", async (t) => {
  await t.step("a recorded random schedule runs the same steps and values", () => {
    fc.assert(
      fc.property(fc.nat(), (seed) => {
        const rec = run(random(seed));
        const rep = run(replayChoices(decodeSchedule(rec.schedule)));
        assert.equal(rep.order, rec.order);
        assert.equal(rep.schedule, rec.schedule);
      }),
      { numRuns: 100 },
    );
  });
  await t.step("past the end it keeps running the previous task and takes 0 for values", () => {
    const s = replayChoices([]);
    const r = run(s);
    // Each task runs to completion: continuing the previous task is canonical index 0.
    assert.equal(r.order, "aa0abb0bcc0c");
    assert.equal(s.used, decodeSchedule(r.schedule).length);
  });
  await t.step("choices beyond the ready count or value range are clamped", () => {
    const s = replayChoices([9, 9, 9]);
    const ctx = { engine: new Engine(), ready: [], prevReady: false, fifoIndex: 0 };
    assert.equal(s.pickTask({ ...ctx, ready: new Array(3) }), 2);
    assert.equal(s.pickValue(2, ctx.engine), 1);
    assert.equal(s.used, 2);
    assert.equal(s.pickTask({ ...ctx, ready: new Array(1) }), 0);
    assert.equal(s.pickTask({ ...ctx, ready: new Array(4) }), 0, "past the end: 0");
    assert.equal(s.used, 4);
  });
  await t.step("an edited schedule still replays without error", () => {
    const r = run(replayChoices([5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]));
    assert.equal(r.order.replace(/\d/g, "").length, 9);
  });
});
