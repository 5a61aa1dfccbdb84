import assert from "node:assert/strict";
import { Engine, type Task, type Waiter, waitEvent, WaitQueue } from "../../../mod.ts";

/** The generator waitEvent used to be; the iterator must behave the same. */
function* reference(
  env: { current: Task | null; waitOn(w: Waiter): unknown },
  q: WaitQueue,
  cond: () => boolean,
  exclusive = false,
) {
  for (;;) {
    if (cond()) return;
    const w = q.prepare(env.current!, exclusive);
    if (cond()) {
      q.finish(w);
      return;
    }
    yield env.waitOn(w);
  }
}

function setup() {
  const e = new Engine();
  const task = e.spawn("t", function* () {});
  const env = { current: task as Task | null, waitOn: (w: Waiter) => e.waitOn(w) };
  return { env, q: new WaitQueue("q") };
}

Deno.test("waitEvent behaves as the generator it replaces", async (t) => {
  await t.step("nothing runs before the first next(); true condition finishes at once", () => {
    for (const make of [waitEvent, reference]) {
      const { env, q } = setup();
      let calls = 0;
      const it = make(env, q, () => (calls++, true));
      assert.equal(calls, 0);
      assert.deepEqual(it.next(), { value: undefined, done: true });
      assert.deepEqual(it.next(), { value: undefined, done: true });
      assert.equal(calls, 1);
      assert.equal(q.waiters.length, 0);
    }
  });
  await t.step("false condition queues one waiter per pass and yields the wait effect", () => {
    for (const make of [waitEvent, reference]) {
      const { env, q } = setup();
      let flag = false;
      const it = make(env, q, () => flag, true);
      const a = it.next();
      assert.equal(a.done, false);
      assert.equal(q.waiters.length, 1);
      assert.equal(q.waiters[0]!.exclusive, true);
      q.wakeUp();
      const b = it.next();
      assert.equal(b.done, false);
      assert.notEqual(a, b, "a fresh result object per call");
      flag = true;
      q.wakeUp();
      assert.deepEqual(it.next(), { value: undefined, done: true });
      assert.equal(q.waiters.length, 0);
    }
  });
  await t.step("return() and throw() finish it; an exception in cond finishes it", () => {
    for (const make of [waitEvent, reference]) {
      const { env, q } = setup();
      const it = make(env, q, () => false);
      it.next();
      assert.deepEqual(it.return(undefined), { value: undefined, done: true });
      assert.deepEqual(it.next(), { value: undefined, done: true });
      const it2 = make(env, q, () => false);
      assert.throws(() => it2.throw(new Error("boom")), /boom/);
      assert.deepEqual(it2.next(), { value: undefined, done: true });
      const it3 = make(env, q, () => {
        throw new Error("cond");
      });
      assert.throws(() => it3.next(), /cond/);
      assert.deepEqual(it3.next(), { value: undefined, done: true });
    }
  });
  await t.step("yield* delegation returns when the condition holds", () => {
    const e = new Engine();
    const q = new WaitQueue("flag");
    let flag = false, after = -1;
    e.spawn("waiter", function* (env) {
      yield* waitEvent(env, q, () => flag);
      after = env.nowNs;
    });
    e.spawn("setter", function* (env) {
      yield env.sleep(5);
      flag = true;
      q.wakeUp();
    });
    assert.equal(e.run().reason, "done");
    assert.equal(after, 5);
  });
});
