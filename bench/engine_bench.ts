/**
 * Engine throughput: events (steps) per second for a two-process ping-pong through a wait
 * queue, for 1,000 processes sleeping random intervals, and for exhaustive exploration. The
 * workloads are those of `bench/_engine_workloads.ts` (shared with the whole-process figures of
 * `bench/_child.ts`).
 *
 * Run: `deno bench bench/engine_bench.ts` (or `deno task bench` for the summary table).
 *
 * @module
 */

import { manySleepers, pingPong, smallExhaustive } from "./_engine_workloads.ts";

export { manySleepers, pingPong, smallExhaustive };

Deno.bench("engine ping-pong, 100k round trips", () => {
  pingPong(100_000);
});
Deno.bench("engine 1,000 processes × 100 sleeps", () => {
  manySleepers(1000, 100);
});
Deno.bench("exhaustive 3 tasks × 2 racy increments", () => {
  smallExhaustive();
});
