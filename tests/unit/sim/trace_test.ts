import assert from "node:assert/strict";
import { Engine, selfCheck, Trace, WaitQueue } from "../../../mod.ts";

Deno.test("Trace records typed events in order", async (t) => {
  await t.step("emit numbers events; kinds, ofKind and filters select them", () => {
    const tr = new Trace();
    tr.emit(0, -1, "sched_process_fork", "writer", null, null);
    tr.emit(5, 0, "writeback_dirty_folio", 12, "clean", "dirty");
    tr.emit(9, 0, "folio_wait_bit", 12, 1, "SHARED");
    assert.deepEqual(tr.events.map((e) => e.i), [0, 1, 2]);
    assert.deepEqual(tr.kinds(), ["sched_process_fork", "writeback_dirty_folio", "folio_wait_bit"]);
    assert.deepEqual(tr.kinds((e) => e.obj === 12), ["writeback_dirty_folio", "folio_wait_bit"]);
    assert.deepEqual(tr.ofKind("folio_wait_bit").map((e) => [e.tNs, e.before, e.after]), [
      [9, 1, "SHARED"],
    ]);
  });
  await t.step("task names come from sched_process_fork events; -1 is no task", () => {
    const tr = new Trace();
    tr.emit(0, -1, "sched_process_fork", "flusher", null, null);
    assert.equal(tr.taskName(0), "flusher#0");
    assert.equal(tr.taskName(-1), "-");
    assert.equal(tr.taskName(3), "task#3");
  });
  await t.step("toText renders one line per event and cuts at the limit", () => {
    const tr = new Trace();
    tr.emit(0, -1, "sched_process_fork", "w", null, null);
    tr.emit(5, 0, "writeback_dirty_folio", 12, "clean", "dirty");
    tr.emit(6, 0, "tick", null, null, { n: 1 });
    const lines = tr.toText().split("\n");
    assert.equal(lines.length, 3);
    assert.equal(lines[1], "t=5 w#0 writeback_dirty_folio 12 clean→dirty");
    assert.match(lines[2]!, /^t=6 w#0 tick +→\{"n":1\}$/);
    assert.equal(tr.toText(1), "t=0 - sched_process_fork w\n… 2 more");
  });
  await t.step("toJsonl names tasks and keeps every field", () => {
    const tr = new Trace();
    tr.emit(0, -1, "sched_process_fork", "w", null, null);
    tr.emit(5, 0, "x", 1, [1], { a: 2 });
    const lines = tr.toJsonl().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines[1], {
      i: 1,
      tNs: 5,
      task: "w#0",
      kind: "x",
      obj: 1,
      before: [1],
      after: { a: 2 },
    });
  });
});

Deno.test("Engine trace: a wait and its wake as a timeline of scheduler events", () => {
  const e = new Engine({ trace: true });
  const q = new WaitQueue("data ready");
  e.spawn("consumer", function* (env, self) {
    yield env.waitOn(q.prepare(self, false));
    env.emit("consume", "data");
  });
  e.spawn("producer", function* (env) {
    yield env.sleep(10);
    env.emit("produce", "data");
    q.wakeUp();
  });
  e.run();
  const tr = e.trace!;
  assert.deepEqual(tr.kinds(), [
    "sched_process_fork",
    "sched_process_fork",
    "sched_blocked",
    "produce",
    "sched_wakeup",
    "sched_process_exit",
    "consume",
    "sched_process_exit",
  ]);
  const wake = tr.ofKind("sched_wakeup")[0]!;
  assert.deepEqual([wake.tNs, tr.taskName(wake.task), wake.obj], [10, "producer#1", "consumer#0"]);
  assert.equal(tr.ofKind("sched_blocked")[0]!.obj, "data ready");
});

Deno.test("selfCheck reports the first difference between two runs", async (t) => {
  await t.step("identical runs: null", () => {
    assert.equal(
      selfCheck(() => {
        const e = new Engine({ seed: 4, trace: true });
        e.spawn("p", function* (env) {
          for (let i = 0; i < 3; i++) {
            yield env.sleep(1 + env.rng.int(10));
            env.emit("tick", i);
          }
        });
        e.run();
        return e.trace!;
      }),
      null,
    );
  });
  await t.step("state leaking between runs is caught at the event where it shows", () => {
    let leaked = 0;
    const diff = selfCheck(() => {
      const e = new Engine({ trace: true });
      e.spawn("p", function* (env) {
        env.emit("a", 1);
        yield env.sleep(1);
        env.emit("b", leaked++);
      });
      e.run();
      return e.trace!;
    });
    assert.ok(diff !== null);
    assert.match(diff, /^traces differ at event 2:\n {2}first: .*"kind":"b","obj":0/);
    assert.match(diff, /second: .*"kind":"b","obj":1/);
  });
  await t.step("a longer second trace is a difference too", () => {
    let n = 1;
    const diff = selfCheck(() => {
      const tr = new Trace();
      for (let i = 0; i < n; i++) tr.emit(0, -1, "x", i, null, null);
      n++;
      return tr;
    });
    assert.match(diff!, /event 1:\n {2}first: {2}\(end\)/);
  });
});
