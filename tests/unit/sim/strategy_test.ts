import assert from "node:assert/strict";
import { type ChoiceContext, Engine, type Strategy, type Task } from "../../../mod.ts";

/** A strategy that logs what the engine shows it and picks by a callback. */
function spy(pick: (ctx: ChoiceContext) => number) {
  const log: string[] = [];
  const s: Strategy = {
    name: "spy",
    begin: () => void log.push("begin"),
    onSpawn: (t: Task) => void log.push(`spawn ${t.name}`),
    onStep: (t: Task, step: number) => void log.push(`step ${step} ${t.name}`),
    pickTask(ctx) {
      log.push(
        `pick [${
          ctx.ready.map((t) => t.name).join(",")
        }] prev=${ctx.prevReady} fifo=${ctx.fifoIndex}`,
      );
      return pick(ctx);
    },
    pickValue: (n) => (log.push(`value of ${n}`), n - 1),
  };
  return { s, log };
}

Deno.test("Strategy hooks and the ChoiceContext the engine passes", async (t) => {
  await t.step("begin, onSpawn, onStep (from 1) and pickTask in canonical order", () => {
    const { s, log } = spy(() => 0);
    const e = new Engine({ strategy: s });
    for (const n of ["a", "b"]) {
      e.spawn(n, function* (env) {
        yield env.point();
      });
    }
    const r = e.run();
    assert.equal(r.reason, "done");
    assert.deepEqual(
      log,
      [
        "begin",
        "spawn a",
        "spawn b",
        "pick [a,b] prev=false fifo=0",
        "step 1 a",
        // a is ready again and ran last: it comes first, and fifo points at b (ready longest).
        "pick [a,b] prev=true fifo=1",
        "step 2 a",
        "step 3 b",
        "step 4 b", // alone: no choice point
      ],
    );
    assert.equal(r.preemptions, 0);
    assert.equal(r.schedule, "0.0");
  });
  await t.step("picking another task while the previous one is ready is a preemption", () => {
    const { s } = spy((ctx) => (ctx.prevReady ? 1 : 0));
    const e = new Engine({ strategy: s });
    const order: string[] = [];
    for (const n of ["a", "b"]) {
      e.spawn(n, function* (env) {
        order.push(n);
        yield env.point();
        order.push(n);
      });
    }
    const r = e.run();
    assert.equal(order.join(""), "abab");
    assert.equal(r.preemptions, 2);
    assert.equal(r.choicePoints, 3);
  });
  await t.step("pickValue answers env.choose(n) for n > 1 only", () => {
    const { s, log } = spy(() => 0);
    const e = new Engine({ strategy: s });
    const got: number[] = [];
    e.spawn("c", function* (env) {
      got.push(yield env.choose(1));
      got.push(yield env.choose(4));
    });
    e.run();
    assert.deepEqual(got, [0, 3]);
    assert.deepEqual(log.filter((l) => l.startsWith("value")), ["value of 4"]);
  });
  await t.step("an out-of-range pick is a model bug naming the strategy", () => {
    const { s } = spy(() => 7);
    const e = new Engine({ strategy: s });
    for (const n of ["a", "b"]) e.spawn(n, function* () {});
    assert.throws(() => e.run(), /strategy spy picked 7 of 2 ready tasks/);
  });
});
