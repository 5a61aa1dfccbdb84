import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { type Engine, exhaustive, explore } from "../../../mod.ts";

/** Tasks named a, b, c… with `steps[i]` steps each (a preemption point between steps). */
function scenario(steps: number[], orders: string[]) {
  return (env: Engine) => {
    const order: string[] = [];
    steps.forEach((m, i) => {
      const name = String.fromCharCode(97 + i);
      env.spawn(name, function* (env) {
        for (let k = 0; k < m; k++) {
          order.push(name);
          if (k < m - 1) yield env.point();
        }
        if (order.length === steps.reduce((a, b) => a + b, 0)) orders.push(order.join(""));
      });
    });
  };
}

/**
 * Reference: every interleaving of the tasks' steps, with its preemptions (a switch away from
 * a task that has steps left).
 */
function interleavings(steps: number[]): Map<string, number> {
  const out = new Map<string, number>();
  const left = steps.slice();
  const go = (prefix: string, prev: number, pre: number) => {
    if (left.every((l) => l === 0)) {
      out.set(prefix, pre);
      return;
    }
    left.forEach((l, i) => {
      if (l === 0) return;
      left[i]!--;
      const cost = prev >= 0 && prev !== i && left[prev]! > 0 ? 1 : 0;
      go(prefix + String.fromCharCode(97 + i), i, pre + cost);
      left[i]!++;
    });
  };
  go("", -1, 0);
  return out;
}

Deno.test("exhaustive visits every schedule within the preemption bound exactly once", async (t) => {
  await t.step("two tasks of three steps: C(6,3) = 20 interleavings without a bound", () => {
    const orders: string[] = [];
    const r = explore(scenario([3, 3], orders), {
      search: exhaustive({ maxPreemptions: 10 }),
    });
    assert.equal(r.executions, 20);
    assert.equal(new Set(orders).size, 20);
    assert.equal(r.complete, true);
  });
  await t.step("preemption bound 0: one run per starting task, and the cut is reported", () => {
    const orders: string[] = [];
    const r = explore(scenario([3, 3], orders), { search: exhaustive({ maxPreemptions: 0 }) });
    assert.deepEqual(orders.sort(), ["aaabbb", "bbbaaa"]);
    assert.equal(r.cut.preemptions, true);
    assert.equal(r.complete, false);
  });
  await t.step("property: the set of runs = the interleavings with ≤ p preemptions", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 3 }),
        (steps, p) => {
          const orders: string[] = [];
          const r = explore(scenario(steps, orders), {
            search: exhaustive({ maxPreemptions: p }),
          });
          const ref = interleavings(steps);
          const want = [...ref].filter(([, pre]) => pre <= p).map(([o]) => o).sort();
          assert.deepEqual(orders.slice().sort(), want);
          assert.equal(r.executions, want.length, "no schedule twice");
          assert.equal(r.cut.preemptions, want.length < ref.size);
          assert.equal(r.complete, want.length === ref.size);
        },
      ),
      { numRuns: 60 },
    );
  });
});

Deno.test("exhaustive explores every value of env.choose, at no preemption cost", () => {
  const seen: string[] = [];
  const r = explore((env) => {
    env.spawn("chooser", function* (env) {
      const a: number = yield env.choose(3);
      const b: number = yield env.choose(2);
      seen.push(`${a}${b}`);
    });
  }, { search: exhaustive({ maxPreemptions: 0 }) });
  assert.deepEqual(seen.sort(), ["00", "01", "10", "11", "20", "21"]);
  assert.equal(r.complete, true);
});

Deno.test("exhaustive stops at maxExecutions and hands out no strategy after it is done", () => {
  const s = exhaustive({ maxExecutions: 2 });
  const a = s.next(), b = s.next();
  assert.ok(a && b);
  assert.equal(s.next(), null);
  assert.equal(s.cut.executions, true);
  assert.equal(s.complete, false);
});
