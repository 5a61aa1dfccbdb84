/**
 * Engine throughput: events (steps) per second for a two-process ping-pong through a wait
 * queue, for 1,000 processes sleeping random intervals, and for exhaustive exploration.
 *
 * Run: `deno bench bench/engine_bench.ts` (or `deno task bench` for the summary table).
 *
 * @module
 */

import { Engine, exhaustive, explore, waitEvent, WaitQueue } from "../mod.ts";

/** Ping-pong of `rounds` round trips; returns the number of steps. */
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

/** Exhaustive exploration of 3 tasks × 3 steps racing on a counter. */
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

Deno.bench("engine ping-pong, 100k round trips", () => {
  pingPong(100_000);
});
Deno.bench("engine 1,000 processes × 100 sleeps", () => {
  manySleepers(1000, 100);
});
Deno.bench("exhaustive 3 tasks × 2 racy increments", () => {
  smallExhaustive();
});
