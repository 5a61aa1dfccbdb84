import assert from "node:assert/strict";
import { Completion, Engine, Mutex, RwSem } from "../../../mod.ts";

Deno.test("Mutex", async (t) => {
  await t.step("unlock by a non-owner throws naming both", () => {
    const e = new Engine();
    const m = new Mutex("m");
    e.spawn("a", function* (env) {
      yield* m.lock(env);
      yield env.sleep(10);
    });
    e.spawn("b", function* (env) {
      yield env.sleep(1);
      m.unlock(env);
    });
    assert.throws(() => e.run(), /mutex_unlock\(m\): called by b#1, held by a#0/);
  });
  await t.step("tryLock fails while held", () => {
    const e = new Engine();
    const m = new Mutex("m");
    let second: boolean | undefined;
    e.spawn("a", function* (env) {
      assert.ok(m.tryLock(env));
      yield env.sleep(5);
      m.unlock(env);
    });
    e.spawn("b", function* (env) {
      yield env.sleep(1);
      second = m.tryLock(env);
    });
    e.run();
    assert.equal(second, false);
  });
});

Deno.test("RwSem: a writer excludes readers, readers queue behind a waiting writer", () => {
  const e = new Engine();
  const s = new RwSem("sem");
  const log: string[] = [];
  e.spawn("r1", function* (env) {
    yield* s.downRead(env);
    log.push("r1+");
    yield env.sleep(10);
    log.push("r1-");
    s.upRead(env);
  });
  e.spawn("w", function* (env) {
    yield env.sleep(1);
    yield* s.downWrite(env);
    log.push("w+");
    yield env.sleep(5);
    log.push("w-");
    s.upWrite(env);
  });
  e.spawn("r2", function* (env) {
    yield env.sleep(2);
    yield* s.downRead(env);
    log.push("r2+");
    s.upRead(env);
  });
  e.run();
  assert.deepEqual(log, ["r1+", "r1-", "w+", "w-", "r2+"]);
});

Deno.test("Completion: complete wakes one, completeAll wakes every waiter", () => {
  const e = new Engine();
  const c = new Completion("c");
  let woke = 0;
  for (let i = 0; i < 3; i++) {
    e.spawn(`w${i}`, function* (env) {
      yield* c.wait(env);
      woke++;
    });
  }
  e.spawn("x", function* (env) {
    yield env.sleep(1);
    c.complete();
    yield env.sleep(1);
    assert.equal(woke, 1);
    c.completeAll();
  });
  e.run();
  assert.equal(woke, 3);
});
