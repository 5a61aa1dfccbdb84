import assert from "node:assert/strict";
import {
  type Engine,
  exhaustive,
  explore,
  Mutex,
  pctSearch,
  randomSearch,
  replay,
  WaitQueue,
  WaitTable,
} from "../../../mod.ts";

const abba = (env: Engine) => {
  const a = new Mutex("A"), b = new Mutex("B");
  env.spawn("t1", function* (env) {
    yield* a.lock(env);
    yield env.point();
    yield* b.lock(env);
    b.unlock(env);
    a.unlock(env);
  });
  env.spawn("t2", function* (env) {
    yield* b.lock(env);
    yield env.point();
    yield* a.lock(env);
    a.unlock(env);
    b.unlock(env);
  });
};

Deno.test("exhaustive finds an ABBA lock-order deadlock and prints its cycle", () => {
  const r = explore(abba, { search: exhaustive({ maxPreemptions: 2 }) });
  assert.equal(r.verdicts.deadlock, "Sometimes");
  assert.ok(r.complete, "the search should cover everything");
  const cx = r.counterexample!;
  assert.equal(cx.waits?.kind, "cycle");
  const cycle = cx.waits!.cycles[0]!.join(" → ");
  assert.match(
    cycle,
    /t1#0 → mutex B → t2#1 → mutex A → t1#0|t2#1 → mutex A → t1#0 → mutex B → t2#1/,
  );
  assert.match(cx.waits!.text, /deadlock: 1 wait-for cycle/);
  assert.match(cx.replay, /replay\(scenario, \{ seed: 1, schedule: ".*" \}\)/);
  // The replay reproduces it.
  const again = replay(abba, { seed: cx.seed, schedule: cx.schedule });
  assert.equal(again.waits?.kind, "cycle");
});

const lostWakeup = (env: Engine) => {
  const q = new WaitQueue("data ready");
  let ready = false;
  env.spawn("consumer", function* (env) {
    for (let i = 0; i < 3; i++) yield env.point(); // unrelated work first
    if (!ready) {
      yield env.point(); // the window between the check and the sleep
      yield env.waitOn(q.prepare(env.current!, false));
    }
  });
  env.spawn("producer", function* (env) {
    for (let i = 0; i < 2; i++) yield env.point();
    ready = true;
    q.wakeUp();
  });
};

Deno.test("a lost wakeup is found and shrunk to one preemption", () => {
  const r = explore(lostWakeup, { search: exhaustive({ maxPreemptions: 3 }) });
  assert.equal(r.verdicts.stuck, "Sometimes");
  const cx = r.counterexample!;
  assert.equal(cx.preemptions, 1, `shrunk schedule ${cx.schedule}`);
  assert.ok(cx.preemptions <= cx.original.preemptions);
  assert.ok(cx.steps <= cx.original.steps);
  const again = replay(lostWakeup, { seed: cx.seed, schedule: cx.schedule });
  assert.equal(again.reason, "stuck");
  assert.equal(again.trace!.toJsonl(), cx.trace.toJsonl());
});

Deno.test("pct finds a depth-2 ordering bug at a rate near its 1/(n·k) bound", () => {
  // Bug: B's write must land after A's init and before A's use (two ordering constraints).
  const n = 3, k = 7, runs = 3000;
  const setup = (env: Engine) => {
    let x = 0;
    env.spawn("A", function* (env) {
      x = 1;
      yield env.point();
      env.sometimes("bug", x !== 1);
    });
    env.spawn("B", function* () {
      x = 0;
    });
    env.spawn("C", function* (env) {
      for (let i = 0; i < 3; i++) yield env.point();
    });
  };
  const r = explore(setup, {
    search: pctSearch({ executions: runs, depth: 2, maxSteps: k, seed: 11 }),
  });
  const rate = r.counts.bug! / runs;
  const bound = 1 / (n * k);
  assert.ok(rate >= 0.8 * bound, `rate ${rate} below the PCT bound ${bound}`);
  assert.ok(rate <= 4 * bound, `rate ${rate} far above the bound ${bound}: not depth 2?`);
});

Deno.test("a spurious wake through the shared wait table is observed", () => {
  // Frame 5 ends writeback for its old use (clear, window, wake) while its new use sets
  // PG_writeback again and a waiter of the new use sleeps: the stale wake reaches it.
  const WB = 1, WAITERS = 7;
  const setup = (env: Engine) => {
    const flags = new Uint32Array(8);
    const table = new WaitTable("folio_wait_table", {
      testBit: (o, b) => ((flags[o]! >> b) & 1) === 1,
      testAndSetBit: (o, b) => {
        const old = ((flags[o]! >> b) & 1) === 1;
        flags[o]! |= 1 << b;
        return old;
      },
      setWaiters: (o) => void (flags[o]! |= 1 << WAITERS),
      clearWaiters: (o) => void (flags[o]! &= ~(1 << WAITERS)),
    });
    flags[5]! |= 1 << WB;
    env.spawn("end_io(old use)", function* (env) {
      flags[5]! &= ~(1 << WB);
      yield env.point(); // δ between clear and wake
      if ((flags[5]! >> WAITERS) & 1) table.wakeBit(5, WB);
    });
    env.spawn("new use", function* (env) {
      flags[5]! |= 1 << WB; // reallocated, dirtied, under writeback again
      yield* table.waitBit(env, 5, WB, "SHARED");
      env.sometimes("woken with PG_writeback set", ((flags[5]! >> WB) & 1) === 1);
    });
  };
  const r = explore(setup, { search: exhaustive() });
  assert.equal(r.verdicts["woken with PG_writeback set"], "Sometimes");
});

Deno.test("exploration reports the bounds that cut it", async (t) => {
  const racy = (env: Engine) => {
    let x = 0;
    for (const n of ["a", "b", "c"]) {
      env.spawn(n, function* (env) {
        const v = x;
        yield env.point();
        x = v + 1;
      });
    }
  };
  await t.step("preemption bound", () => {
    const r = explore(racy, { search: exhaustive({ maxPreemptions: 0 }) });
    assert.equal(r.cut.preemptions, true);
    assert.equal(r.complete, false);
  });
  await t.step("execution bound", () => {
    const r = explore(racy, { search: exhaustive({ maxExecutions: 3 }) });
    assert.equal(r.executions, 3);
    assert.equal(r.cut.executions, true);
  });
  await t.step("step bound", () => {
    const r = explore((env) => {
      env.spawn("spin", function* (env) {
        for (;;) yield env.point();
      });
    }, { search: exhaustive(), maxSteps: 100 });
    assert.equal(r.cut.steps, true);
  });
  await t.step("complete when nothing was cut", () => {
    const r = explore(racy, { search: exhaustive({ maxPreemptions: 10 }) });
    assert.equal(r.complete, true);
  });
});

Deno.test("a hung wait is reported apart from a cycle", () => {
  const r = explore((env) => {
    const m = new Mutex("folio lock");
    env.spawn("server", function* (env) {
      yield* m.lock(env);
      yield env.hang("FUSE_READ reply (server never replies)");
    });
    env.spawn("migrate", function* (env) {
      yield env.sleep(1);
      yield* m.lock(env);
    });
  }, { search: randomSearch({ executions: 3, seed: 1 }) });
  assert.equal(r.verdicts.hung, "Always");
  assert.equal(r.verdicts.deadlock, "Never");
  const text = r.counterexample!.waits!.text;
  assert.match(text, /hung: migrate#1 → mutex folio lock → server#0 → FUSE_READ reply/);
});
