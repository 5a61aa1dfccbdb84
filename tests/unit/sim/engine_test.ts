import assert from "node:assert/strict";
import {
  decodeSchedule,
  encodeSchedule,
  Engine,
  fifo,
  random,
  TaskFlag,
  WaitQueue,
} from "../../../mod.ts";

Deno.test("Engine virtual time and ordering", async (t) => {
  await t.step("events at the same time run in spawn order under fifo", () => {
    const e = new Engine({ strategy: fifo(), trace: true });
    const order: string[] = [];
    for (const n of ["a", "b", "c"]) {
      e.spawn(n, function* (env) {
        order.push(n);
        yield env.sleep(10);
        order.push(n.toUpperCase());
      });
    }
    const r = e.run();
    assert.equal(order.join(""), "abcABC");
    assert.equal(r.nowNs, 10);
    assert.equal(r.reason, "done");
  });
  await t.step("sleep rejects negative and non-finite durations", () => {
    const e = new Engine();
    assert.throws(() => e.sleep(-1), /ns must be a finite number/);
    assert.throws(() => e.sleep(Infinity), /finite/);
  });
  await t.step("daemon tasks do not keep a run alive", () => {
    const e = new Engine();
    let ticks = 0;
    e.spawn("flusher", function* (env) {
      for (;;) {
        yield env.sleep(5);
        ticks++;
      }
    }, { daemon: true });
    e.spawn("main", function* (env) {
      yield env.sleep(22);
    });
    const r = e.run();
    assert.equal(r.reason, "done");
    assert.equal(ticks, 4);
  });
  await t.step("step and time bounds say which ended the run", () => {
    const spin = (e: Engine) =>
      e.spawn("spin", function* (env) {
        for (;;) yield env.sleep(1);
      });
    const a = new Engine();
    spin(a);
    assert.equal(a.run({ maxSteps: 50 }).reason, "steps");
    const b = new Engine();
    spin(b);
    const rb = b.run({ maxTimeNs: 100 });
    assert.equal(rb.reason, "time");
    assert.equal(rb.nowNs, 100);
  });
  await t.step("join returns the child's result", () => {
    const e = new Engine();
    let got: unknown;
    e.spawn("parent", function* (env) {
      const child = env.spawn("child", function* (env) {
        yield env.sleep(7);
        return "done";
      });
      got = yield* env.join(child);
    });
    e.run();
    assert.equal(got, "done");
  });
  await t.step("an exception in a task names the task, time, seed and schedule", () => {
    const e = new Engine({ seed: 9 });
    e.spawn("bad", function* (env) {
      yield env.sleep(3);
      throw new Error("model bug");
    });
    assert.throws(() => e.run(), /task bad#0 threw at t=3 ns.*seed 9.*model bug/);
  });
});

Deno.test("Engine context flags: blocking in atomic context is a might_sleep violation", () => {
  const e = new Engine();
  const q = new WaitQueue("never");
  e.spawn("irq", function* (env, self) {
    yield env.waitOn(q.prepare(self, false));
  }, { flags: TaskFlag.ATOMIC });
  const r = e.run();
  assert.equal(r.reason, "violation");
  assert.equal(r.violations[0]!.name, "might_sleep");
  assert.match(r.violations[0]!.message, /sleeping function called from invalid context/);
});

Deno.test("WaitQueue exclusive and non-exclusive wakes", async (t) => {
  await t.step("wakeUp(1) wakes every non-exclusive waiter and one exclusive", () => {
    const e = new Engine();
    const q = new WaitQueue("q");
    const woke: string[] = [];
    for (const [n, ex] of [["s1", false], ["x1", true], ["s2", false], ["x2", true]] as const) {
      e.spawn(n, function* (env, self) {
        yield env.waitOn(q.prepare(self, ex));
        woke.push(n);
      });
    }
    e.spawn("waker", function* (env) {
      yield env.sleep(1);
      q.wakeUp(1);
    });
    const r = e.run();
    assert.deepEqual(woke.sort(), ["s1", "s2", "x1"]);
    assert.equal(r.reason, "stuck");
    assert.equal(r.waits?.blocked.length, 1);
  });
});

Deno.test("encodeSchedule/decodeSchedule round-trip and reject garbage", () => {
  for (const c of [[], [0], [1, 1], [0, 0, 0, 0, 2, 1, 1, 1]]) {
    assert.deepEqual(decodeSchedule(encodeSchedule(c)), c);
  }
  assert.throws(() => decodeSchedule("1.x"), /bad token "x"/);
});

Deno.test("Engine determinism: same seed and strategy give the same trace", () => {
  const run = (seed: number) => {
    const e = new Engine({ seed, strategy: random(seed), trace: true });
    for (let i = 0; i < 5; i++) {
      e.spawn(`p${i}`, function* (env, self) {
        for (let k = 0; k < 5; k++) {
          yield env.sleep(self.rng.int(3));
          env.emit("tick", k);
        }
      });
    }
    e.run();
    return e.trace!.toJsonl();
  };
  assert.equal(run(4), run(4));
  assert.notEqual(run(4), run(5));
});

Deno.test("wait-for reports leave out idle workers waiting for work (WaitQueue.idle)", () => {
  const e = new Engine();
  const work = new WaitQueue("work list");
  work.idle = true;
  const never = new WaitQueue("a reply that never comes");
  e.spawn("worker", function* (env, self) {
    yield env.waitOn(work.prepare(self, true));
  }, { daemon: true });
  e.spawn("client", function* (env, self) {
    yield env.waitOn(never.prepare(self, false));
  });
  const r = e.run();
  assert.equal(r.reason, "stuck");
  assert.deepEqual(r.waits?.blocked.map((b) => b.task), ["client#1"]);
});
