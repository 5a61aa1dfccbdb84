import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Engine, random, replay } from "../../../mod.ts";

/** Three one-step tasks: the run's order is the strategy's first two picks. */
function order3(seed: number): string {
  const e = new Engine({ strategy: random(seed) });
  const order: string[] = [];
  for (const n of ["a", "b", "c"]) {
    e.spawn(n, function* () {
      order.push(n);
    });
  }
  e.run();
  return order.join("");
}

Deno.test("random picks uniformly among ready tasks", async (t) => {
  await t.step("all 6 orders of three tasks appear, each near 1/6 over 3000 seeds", () => {
    const counts = new Map<string, number>();
    const n = 3000;
    for (let s = 0; s < n; s++) {
      const o = order3(s);
      counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort(), ["abc", "acb", "bac", "bca", "cab", "cba"]);
    for (const [o, c] of counts) {
      assert.ok(Math.abs(c / n - 1 / 6) < 0.03, `${o}: ${c / n}`);
    }
  });
  await t.step("choose(n) values are uniform in [0, n)", () => {
    const e = new Engine({ strategy: random(4) });
    const seen = [0, 0, 0, 0];
    e.spawn("chooser", function* (env) {
      for (let i = 0; i < 4000; i++) {
        const v: number = yield env.choose(4);
        seen[v]!++;
      }
    });
    e.run();
    for (const c of seen) assert.ok(Math.abs(c / 4000 - 0.25) < 0.03, `${seen}`);
  });
  await t.step("the same seed gives the same order", () => {
    for (let s = 0; s < 20; s++) assert.equal(order3(s), order3(s));
  });
  await t.step("its stream is its own: the model's draws do not change the schedule", () => {
    const orders = (modelDraws: number) => {
      const e = new Engine({ seed: 1, strategy: random(9) });
      const order: string[] = [];
      for (const n of ["a", "b", "c"]) {
        e.spawn(n, function* (env) {
          for (let i = 0; i < 3; i++) {
            for (let k = 0; k < modelDraws; k++) env.rng.nextU32();
            order.push(n);
            yield env.point();
          }
        });
      }
      e.run();
      return order.join("");
    };
    assert.equal(orders(0), orders(5));
  });
});

Deno.test("random property: replaying a random run's schedule gives the identical trace", () => {
  const setup = (env: Engine) => {
    let x = 0;
    for (const n of ["a", "b", "c"]) {
      env.spawn(n, function* (env) {
        for (let i = 0; i < 3; i++) {
          const v = x;
          yield env.point();
          x = v + 1;
          env.emit("store", n, v, x);
          if (i === 1) yield env.sleep(1 + env.rng.int(2));
        }
      });
    }
  };
  fc.assert(
    fc.property(fc.nat(), (seed) => {
      const e = new Engine({ seed: 2, strategy: random(seed), trace: true });
      setup(e);
      const r = e.run();
      const again = replay(setup, { seed: 2, schedule: r.schedule });
      assert.equal(again.trace!.toJsonl(), e.trace!.toJsonl());
    }),
    { numRuns: 50 },
  );
});
