/**
 * The engine workloads of `bench/engine_bench.ts` (ping-pong, many sleepers, a small exhaustive
 * exploration) imported straight from lib/sim rather than through mod.ts, so that a
 * whole-process figure measures the engine and not the loading of every area of the library
 * (mod.ts pulls in Observable Plot, linkedom and zod: about 0.25 s of CPU time).
 *
 * @module
 */

import { Engine } from "../lib/sim/engine.ts";
import { waitEvent, WaitQueue } from "../lib/sim/wait_queue.ts";
import { explore } from "../lib/sim/explore.ts";
import { exhaustive } from "../lib/sim/exhaustive.ts";
import { Mutex } from "../lib/sim/sync.ts";
import { EventHeap } from "../lib/sim/_heap.ts";

/** Ping-pong of `rounds` round trips through one wait queue; returns the number of steps. */
export function pingPong(rounds: number): number {
  const e = new Engine({ seed: 1 });
  const q = new WaitQueue("ball");
  let ball = 0;
  e.spawn("ping", function* (env) {
    for (let i = 0; i < rounds; i++) {
      yield* waitEvent(env, q, () => (ball & 1) === 0);
      ball++;
      q.wakeUp();
    }
  });
  e.spawn("pong", function* (env) {
    for (let i = 0; i < rounds; i++) {
      yield* waitEvent(env, q, () => (ball & 1) === 1);
      ball++;
      q.wakeUp();
    }
  });
  return e.run({ maxSteps: Infinity }).steps;
}

/** `n` processes each sleeping `iters` random intervals; returns steps. */
export function manySleepers(n: number, iters: number): number {
  const e = new Engine({ seed: 1 });
  for (let p = 0; p < n; p++) {
    e.spawn(`p${p}`, function* (env, self) {
      const rng = self.rng;
      for (let i = 0; i < iters; i++) yield env.sleep(1 + rng.int(1000));
    });
  }
  return e.run({ maxSteps: Infinity }).steps;
}

/** Exhaustive exploration of 3 tasks × 2 racy increments of a counter. */
export function smallExhaustive(): { executions: number; states: number | null } {
  const r = explore((env) => {
    let x = 0;
    for (const n of ["a", "b", "c"]) {
      env.spawn(n, function* (env) {
        for (let i = 0; i < 2; i++) {
          const v = x;
          yield env.point();
          x = v + 1;
        }
      });
    }
    return { fingerprint: () => `${x}:${env.steps}` };
  }, { search: exhaustive({ maxPreemptions: 3 }) });
  return { executions: r.executions, states: r.distinctStates };
}

/** Two tasks taking two mutexes in opposite orders (the textbook AB-BA deadlock), explored. */
export function abbaDeadlock(): { executions: number; states: number | null } {
  const r = explore((env) => {
    const a = new Mutex("A"), b = new Mutex("B");
    let held = 0;
    env.spawn("t1", function* (env) {
      yield* a.lock(env);
      held++;
      yield env.point();
      yield* b.lock(env);
      b.unlock(env);
      a.unlock(env);
      held--;
    });
    env.spawn("t2", function* (env) {
      yield* b.lock(env);
      held++;
      yield env.point();
      yield* a.lock(env);
      a.unlock(env);
      b.unlock(env);
      held--;
    });
    return { fingerprint: () => `${held}:${env.steps}:${a.owner?.id ?? -1}:${b.owner?.id ?? -1}` };
  }, { search: exhaustive({ maxPreemptions: 3 }) });
  return { executions: r.executions, states: r.distinctStates };
}

/**
 * Anchor for the engine's task sweep: the smallest discrete-event loop that runs the same
 * workload as `manySleepers` — `n` generators, each yielding `iters` random sleeps of 1–1000 ns,
 * ordered by the same `(time, seq)` binary heap the engine uses (lib/sim/_heap.ts). No effects,
 * no tasks, no wait queues, no strategy, no checks: what is left of the engine's cost when its
 * features are removed. Random numbers: one xorshift32 per generator. Returns steps.
 */
export function minimalEventLoop(n: number, iters: number): number {
  const heap = new EventHeap<Iterator<number, void>>();
  let seq = 0, now = 0, steps = 0;
  for (let p = 0; p < n; p++) {
    const g = (function* (seed: number): Generator<number, void> {
      let x = seed | 0;
      for (let i = 0; i < iters; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        yield 1 + (x >>> 0) % 1000;
      }
    })(0x9e3779b9 ^ (p * 2654435761));
    heap.push(0, seq++, g);
  }
  while (heap.size > 0) {
    now = heap.peekTime();
    const g = heap.pop()!;
    steps++;
    const r = g.next();
    if (r.done !== true) heap.push(now + r.value, seq++, g);
  }
  return steps;
}
