import assert from "node:assert/strict";
import { type ChoiceContext, Engine, fifo, FIFO_SCHEDULE, type Strategy } from "../../../mod.ts";

/** The fifo policy through the engine's general path (a strategy not named "fifo"). */
function slowFifo(): Strategy {
  return {
    name: "fifo-by-index",
    pickTask: (ctx: ChoiceContext) => ctx.fifoIndex,
    pickValue: () => 0,
  };
}

/** Three tasks with different sleep/point patterns; returns the order of their steps. */
function run(
  strategy: Strategy,
): { order: string; schedule: string; preemptions: number; choicePoints: number } {
  const e = new Engine({ strategy });
  const order: string[] = [];
  const pattern: Record<string, number[]> = { a: [0, 2, 0], b: [1, 0, 0], c: [0, 0, 1] };
  for (const [n, sleeps] of Object.entries(pattern)) {
    e.spawn(n, function* (env) {
      for (const s of sleeps) {
        order.push(n);
        yield s === 0 ? env.point() : env.sleep(s);
        const v: number = yield env.choose(3);
        if (v !== 0 && strategy.name.startsWith("fifo")) throw new Error(`choose gave ${v}`);
      }
      order.push(n.toUpperCase());
    });
  }
  const r = e.run();
  return {
    order: order.join(""),
    schedule: r.schedule,
    preemptions: r.preemptions,
    choicePoints: r.choicePoints,
  };
}

Deno.test("fifo runs the task that has been ready longest", async (t) => {
  await t.step("round robin at preemption points", () => {
    const e = new Engine({ strategy: fifo() });
    const order: string[] = [];
    for (const n of ["a", "b", "c"]) {
      e.spawn(n, function* (env) {
        for (let i = 0; i < 2; i++) {
          order.push(n);
          yield env.point();
        }
      });
    }
    e.run();
    assert.equal(order.join(""), "abcabc");
  });
  await t.step("the engine's fast path and the general path pick the same tasks", () => {
    const fast = run(fifo());
    const general = run(slowFifo());
    assert.equal(fast.order, general.order);
    assert.equal(fast.schedule, FIFO_SCHEDULE, "fifo records no choices");
    assert.notEqual(general.schedule, FIFO_SCHEDULE);
  });
  await t.step("choose() always takes 0 and both paths count the same choice points", () => {
    const fast = run(fifo()), general = run(slowFifo());
    assert.equal(fast.choicePoints, general.choicePoints);
    assert.ok(fast.choicePoints > 0);
  });
  await t.step("pickTask returns the context's fifoIndex, pickValue 0", () => {
    const s = fifo();
    const ctx = { engine: new Engine(), ready: [], prevReady: true, fifoIndex: 1 };
    assert.equal(s.pickTask(ctx), 1);
    assert.equal(s.pickValue(5, ctx.engine), 0);
  });
});

Deno.test({
  name: "fifo run reports the preemptions its round robin makes (RunResult.preemptions)",
  // Regression test (fixed in the engine): Engine.run's fifo fast path never counts preemptions, so
  // a fifo run reports 0 although it switches away from tasks that are still ready, which
  // RunResult.preemptions documents as a preemption; the same schedule through the general
  // path (a strategy returning ctx.fifoIndex) reports them.
  fn() {
    assert.equal(run(fifo()).preemptions, run(slowFifo()).preemptions);
  },
});
