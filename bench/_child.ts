/**
 * One measurement per process, for `bench/run.ts` and `bench/growth.ts`: each sub-command does
 * its work and prints one JSON line. The parent times the whole process (spawn to exit, CPU
 * time and peak RSS from GNU time) and reads the in-process figures from the JSON.
 *
 *     deno run --allow-read --allow-hrtime bench/_child.ts <command> [args…]
 *
 * Commands (every rate is a median over `runs` timed repetitions after `warmup` untimed ones):
 * - `pingpong ROUNDS RUNS WARMUP`, `sleepers N ITERS RUNS WARMUP`: engine steps;
 * - `buddy FRAMES OPS RUNS WARMUP`, `minimal FRAMES OPS RUNS WARMUP`: alloc/free operations of
 *   bench/buddy_bench.ts's workload on the model's `Zone` / on the minimal anchor allocator;
 * - `replay POLICY TRACE CAPACITY RUNS`: the page-cache replay loop over ids in memory;
 * - `lrucheck TRACE CAPACITY`: pure-LRU misses vs an independent exact LRU on the whole trace;
 * - `naive TRACE N CAPACITY`: the anchors' naive Map LRU (delete + set) on the first N requests;
 * - `explore small|deadlock RUNS`: exhaustive exploration of a small model, RUNS times;
 * - `explore c13 N random|exhaustive`: C1.3's deadlock search (thread 001), N random schedules
 *   or N complete bounded-exhaustive searches; executions and distinct states per second;
 * - `procs N STEPS`: memory per engine task and steps/s with N tasks (growth sweep);
 * - `minprocs N STEPS`: steps/s of the minimal event loop (anchor) with N generators;
 * - `frames FRAMES OPS`: buddy throughput and memory at FRAMES frames (growth sweep);
 * - `scale FRAMES`: allocate, fragment and compact a zone of FRAMES frames, RSS per phase.
 *
 * @module
 */

import { cpuSeconds, measure, rssBytes } from "./_harness.ts";
import { buddyBytesPerFrame, churn, setupBuddyBench } from "./buddy_bench.ts";
import { MinimalBuddy } from "./_minimal_buddy.ts";
import { exactLruMisses } from "./_exact_lru.ts";
import {
  abbaDeadlock,
  manySleepers,
  minimalEventLoop,
  pingPong,
  smallExhaustive,
} from "./_engine_workloads.ts";
import { Engine } from "../lib/sim/engine.ts";
import { PageCacheReplay } from "../lib/workload/replay.ts";

const [cmd = "", ...rest] = Deno.args;
const num = (i: number, fallback: number) => (rest[i] === undefined ? fallback : Number(rest[i]));

function emit(o: Record<string, unknown>): void {
  console.log(JSON.stringify({ ...o, rssBytes: rssBytes() }));
}

/** All object ids of an oracleGeneral trace (low 32 bits; the high word must be 0). */
function loadIds(path: string): Uint32Array {
  const bytes = Deno.readFileSync(path);
  if (bytes.length % 24 !== 0) throw new Error(`${path}: not a whole number of 24-byte records`);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const n = bytes.length / 24;
  const ids = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (words[6 * i + 2] !== 0) {
      throw new Error(`${path}: object id of record ${i} exceeds 32 bits`);
    }
    ids[i] = words[6 * i + 1]!;
  }
  return ids;
}

/** C1.3's deadlock search, if thread 001's module is present (a hook until it is committed). */
async function c13() {
  // A computed specifier: the module may not exist yet, and `deno check bench/` must still pass.
  const spec = ["..", "lib", "claims", "thread001_deadlock.ts"].join("/");
  let mod: Record<string, unknown>;
  try {
    mod = await import(new URL(spec, import.meta.url).href);
  } catch (e) {
    return { available: false, why: `cannot import ${spec}: ${(e as Error).message}` };
  }
  const search = mod.c13DeadlockSearch as
    | ((o: Record<string, unknown>) => {
      executions: number;
      distinctStates: number | null;
      verdicts: Record<string, string>;
      totalSteps: number;
      complete: boolean;
    })
    | undefined;
  if (typeof search !== "function") {
    return { available: false, why: `${spec} exports no c13DeadlockSearch` };
  }
  return { available: true, search };
}

async function main(): Promise<void> {
  switch (cmd) {
    case "pingpong": {
      const rounds = num(0, 1_000_000), runs = num(1, 5), warmup = num(2, 1);
      let steps = 0;
      const rate = measure(() => (steps = pingPong(rounds)), runs, warmup);
      emit({ work: steps * (runs + warmup), rate: { wall: rate.wall, cpu: rate.cpu } });
      return;
    }
    case "sleepers": {
      const n = num(0, 1000), iters = num(1, 1000), runs = num(2, 5), warmup = num(3, 1);
      let steps = 0;
      const rate = measure(() => (steps = manySleepers(n, iters)), runs, warmup);
      emit({ work: steps * (runs + warmup), rate: { wall: rate.wall, cpu: rate.cpu } });
      return;
    }
    case "buddy": {
      const frames = num(0, 4 << 20), ops = num(1, 10_000_000), runs = num(2, 5);
      const warmup = num(3, 1);
      const b = setupBuddyBench(frames);
      const fillOps = b.live + b.failed;
      const rate = measure(() => (churn(b, ops), ops), runs, warmup);
      emit({
        work: fillOps + ops * (runs + warmup),
        rate: { wall: rate.wall, cpu: rate.cpu },
        failed: b.failed,
        usedShare: b.usedPages / b.zone.managedPages,
        physMemBytesPerFrame: b.zone.mem.bytesPerFrame(),
        buddyBytesPerFrame: buddyBytesPerFrame(b.zone),
      });
      return;
    }
    case "minimal": {
      const frames = num(0, 4 << 20), ops = num(1, 10_000_000), runs = num(2, 5);
      const warmup = num(3, 1);
      const m = new MinimalBuddy(frames);
      const rate = measure(() => m.churn(ops), runs, warmup);
      emit({
        work: ops * (runs + warmup),
        rate: { wall: rate.wall, cpu: rate.cpu },
        bytesPerFrame: m.bytesPerFrame(),
      });
      return;
    }
    case "replay": {
      const policy = rest[0] as "lru" | "active_inactive";
      const path = rest[1]!, capacityPages = num(2, 100_000), runs = num(3, 5);
      const ids = loadIds(path);
      let misses = -1;
      const rate = measure(
        () => {
          const r = new PageCacheReplay({ capacityPages, policy });
          r.accessIds(ids);
          if (misses >= 0 && r.misses !== misses) {
            throw new Error("miss count changed between runs");
          }
          misses = r.misses;
          return ids.length;
        },
        runs,
        1,
      );
      emit({ requests: ids.length, misses, rate: { wall: rate.wall, cpu: rate.cpu } });
      return;
    }
    case "lrucheck": {
      const path = rest[0]!, capacityPages = num(1, 100_000);
      const ids = loadIds(path);
      const r = new PageCacheReplay({ capacityPages, policy: "lru" });
      r.accessIds(ids);
      emit({
        requests: ids.length,
        pureLru: r.misses,
        exactLru: exactLruMisses(ids, capacityPages),
      });
      return;
    }
    case "naive": {
      // The anchor's naive LRU: a Map in recency order, delete + set on a hit.
      const path = rest[0]!, n = num(1, 200_000), capacity = num(2, 100_000);
      const ids = loadIds(path).subarray(0, n);
      const map = new Map<number, number>();
      let misses = 0;
      const c0 = cpuSeconds(), t0 = performance.now();
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if (map.has(id)) {
          map.delete(id);
          map.set(id, i);
        } else {
          misses++;
          if (map.size >= capacity) map.delete(map.keys().next().value!);
          map.set(id, i);
        }
      }
      const wall = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
      const exact = exactLruMisses(ids, capacity);
      if (exact !== misses) throw new Error(`naive Map LRU misses ${misses} != exact ${exact}`);
      emit({
        requests: ids.length,
        misses,
        rate: { wall: ids.length / wall, cpu: ids.length / cpu },
      });
      return;
    }
    case "explore": {
      const which = rest[0] ?? "small", runs = num(1, 5);
      if (which === "c13") {
        const h = await c13();
        if (!h.available) {
          emit({ available: false, why: h.why });
          return;
        }
        // `random`: one search of `runs` random schedules. `exhaustive`: the bounded DFS
        // (2 preemptions) to its end, repeated `runs` times. Warm up once first.
        const kind = rest[2] === "exhaustive" ? "exhaustive" : "random";
        const once = () =>
          kind === "random"
            ? h.search!({ executions: runs, search: "random" })
            : h.search!({ executions: 100_000, search: "exhaustive" });
        h.search!({ executions: 20, search: kind });
        const reps = kind === "random" ? 1 : runs;
        let r = once(), exec = 0, states = 0;
        const c0 = cpuSeconds(), t0 = performance.now();
        for (let i = 0; i < reps; i++) {
          r = once();
          exec += r.executions;
          states += r.distinctStates ?? 0;
        }
        const wall = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
        emit({
          available: true,
          search: kind,
          executions: r.executions,
          states: r.distinctStates,
          steps: r.totalSteps,
          complete: r.complete,
          deadlock: r.verdicts.deadlock,
          execPerSec: { wall: exec / wall, cpu: exec / cpu },
          statesPerSec: { wall: states / wall, cpu: states / cpu },
        });
        return;
      }
      const fn = which === "deadlock" ? abbaDeadlock : smallExhaustive;
      let last = { executions: 0, states: null as number | null };
      fn();
      let exec = 0, states = 0;
      const c0 = cpuSeconds(), t0 = performance.now();
      for (let i = 0; i < runs; i++) {
        last = fn();
        exec += last.executions;
        states += last.states ?? 0;
      }
      const wall = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
      emit({
        available: true,
        executions: last.executions,
        states: last.states,
        execPerSec: { wall: exec / wall, cpu: exec / cpu },
        statesPerSec: { wall: states / wall, cpu: states / cpu },
      });
      return;
    }
    case "procs": {
      const n = num(0, 1000), totalSteps = num(1, 2_000_000);
      const gc = (globalThis as { gc?: () => void }).gc;
      const iters = Math.max(1, Math.ceil(totalSteps / n));
      manySleepers(Math.min(n, 100), 100); // warm the JIT
      gc?.();
      const heap0 = Deno.memoryUsage().heapUsed;
      const e = new Engine({ seed: 1 });
      for (let p = 0; p < n; p++) {
        e.spawn(`p${p}`, function* (env, self) {
          const rng = self.rng;
          for (let i = 0; i < iters; i++) yield env.sleep(1 + rng.int(1000));
        });
      }
      gc?.();
      const heapPerTask = (Deno.memoryUsage().heapUsed - heap0) / n;
      const c0 = cpuSeconds(), t0 = performance.now();
      const steps = e.run({ maxSteps: Infinity }).steps;
      const wall = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
      emit({ n, steps, rate: { wall: steps / wall, cpu: steps / cpu }, heapPerTask });
      return;
    }
    case "minprocs": {
      const n = num(0, 1000), totalSteps = num(1, 2_000_000);
      const iters = Math.max(1, Math.ceil(totalSteps / n));
      minimalEventLoop(Math.min(n, 100), 100); // warm the JIT
      const c0 = cpuSeconds(), t0 = performance.now();
      const steps = minimalEventLoop(n, iters);
      const wall = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
      emit({ n, steps, rate: { wall: steps / wall, cpu: steps / cpu } });
      return;
    }
    case "frames": {
      const frames = num(0, 1 << 20), ops = num(1, 2_000_000);
      const rss0 = rssBytes();
      const b = setupBuddyBench(frames);
      // Commit every page of every per-frame array: untouched zero pages are not resident.
      const mem = b.zone.mem;
      for (const v of Object.values(mem)) {
        if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
          const a = v as unknown as {
            [i: number]: number;
            length: number;
            BYTES_PER_ELEMENT: number;
          };
          for (let i = 0; i < a.length; i += 4096 / a.BYTES_PER_ELEMENT) a[i] = a[i]!;
        }
      }
      const rss = rssBytes() - rss0;
      const rate = measure(() => (churn(b, ops), ops), 3, 1);
      emit({
        frames,
        rate: { wall: rate.wall, cpu: rate.cpu },
        modelBytes: mem.bytesPerFrame() * frames,
        rssDeltaBytes: rss,
      });
      return;
    }
    case "scale": {
      const frames = num(0, 16 << 20);
      const { fragmentedMm, runPhase } = await import("./compaction_bench.ts");
      const { unusableFreeIndex } = await import("../lib/mm/fragment.ts");
      const phases: Record<string, number | string | null>[] = [];
      const t0 = performance.now();
      const { env, mm } = fragmentedMm(frames);
      phases.push({
        phase: "allocate + fragment (50 % used) + LRU",
        seconds: (performance.now() - t0) / 1000,
        rssBytes: rssBytes(),
        unusable9: unusableFreeIndex(mm.zone, 9),
      });
      const f = runPhase(env, mm, "compact_memory");
      phases.push({
        phase: "compact_memory",
        seconds: f.seconds,
        rssBytes: rssBytes(),
        unusable9: unusableFreeIndex(mm.zone, 9),
        migrated: f.migrated,
      });
      emit({ frames, phases, physMemBytesPerFrame: mm.mem.bytesPerFrame() });
      return;
    }
    default:
      throw new Error(`unknown command "${cmd}" (see the module doc of bench/_child.ts)`);
  }
}

await main();
