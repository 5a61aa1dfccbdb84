/**
 * Page-cache replay benchmark on the reference trace (10 M requests, Zipf α = 1.0 over 1 M
 * 4 KiB objects) with a 100,000-page cache: miss counts and requests/s for pure LRU, the
 * kernel's active/inactive lists, and a naive Map LRU (delete + set) for comparison.
 *
 *     deno run --allow-read --allow-write=out --allow-run --allow-env bench/replay_bench.ts \
 *       [--trace PATH] [--capacity 100000] [--runs 5] [--naive 200000] [--json]
 *
 * Figures (medians of `--runs` runs):
 * - "replay": the replay loop alone over ids already decoded in memory;
 * - "stream": read the trace file, decode and replay, in this process;
 * - "process": a fresh `deno run` of this script in `--single POLICY` mode, wall clock from
 *   spawn to exit (Deno start-up, reading, decoding, replay), requests / seconds.
 * The trace is generated first (bench/gen_trace.ts) if it is missing.
 *
 * @module
 */

// Direct imports (not mod.ts, which loads every area) keep the child's start-up short.
import { PageCacheReplay, type ReplayOptions } from "../lib/workload/replay.ts";
import { readOracleGeneral } from "../lib/workload/oracle_general.ts";
import { REFERENCE_TRACE, REFERENCE_TRACE_PATH, writeZipfTrace } from "./gen_trace.ts";

type Policy = "lru" | "active_inactive";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1]! : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Read all object ids of an oracleGeneral file (they must fit 32 bits). */
async function loadIds(path: string): Promise<Uint32Array> {
  const nRecords = (await Deno.stat(path)).size / 24;
  const ids = new Uint32Array(nRecords);
  let n = 0;
  for await (const b of readOracleGeneral(fileChunks(path), 1 << 16, "objId")) {
    for (let i = 0; i < b.length; i++) {
      if (b.objIdHi[i] !== 0) throw new Error(`object id ${b.objId(i)} exceeds 32 bits`);
    }
    ids.set(b.objIdLo.subarray(0, b.length), n);
    n += b.length;
  }
  return ids;
}

/** Replay `ids` once; returns misses and seconds. */
function runReplay(ids: Uint32Array, config: ReplayOptions) {
  const r = new PageCacheReplay(config);
  const t0 = performance.now();
  r.accessIds(ids);
  const s = (performance.now() - t0) / 1000;
  return { misses: r.misses, hits: r.hits, evictions: r.evictions, seconds: s };
}

/** The file in 8 MiB reads into one reused buffer (the reader decodes each before the next). */
async function* fileChunks(path: string, size = 8 << 20): AsyncGenerator<Uint8Array> {
  const file = await Deno.open(path);
  const buf = new Uint8Array(size);
  try {
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      yield buf.subarray(0, n);
    }
  } finally {
    file.close();
  }
}

/** Stream the file through a fresh replay; returns misses and seconds. */
async function runStream(path: string, config: ReplayOptions) {
  const t0 = performance.now();
  const r = new PageCacheReplay(config);
  for await (const b of readOracleGeneral(fileChunks(path), 1 << 16, "objId")) {
    r.accessOracleBatch(b);
  }
  return { misses: r.misses, seconds: (performance.now() - t0) / 1000 };
}

/**
 * The naive LRU the anchors warn about: a Map in recency order, a hit moves its key to the end
 * by delete + set, a miss evicts the first key. Exact LRU, slow in V8.
 */
function runNaiveMapLru(ids: Uint32Array, n: number, capacity: number) {
  const map = new Map<number, number>();
  let misses = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
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
  return { misses, seconds: (performance.now() - t0) / 1000 };
}

const configs: Record<string, Omit<ReplayOptions, "capacityPages">> = {
  lru: { policy: "lru" },
  active_inactive: { policy: "active_inactive" },
  "active_inactive (pg_referenced)": {
    policy: "active_inactive",
    folioReferenced: "pg_referenced",
  },
};

if (import.meta.main) {
  const path = arg("trace", REFERENCE_TRACE_PATH);
  const capacityPages = Number(arg("capacity", "100000"));
  const single = arg("single", "");
  if (single) {
    // Child mode for the whole-process figure: read, decode, replay, print misses.
    const s = await runStream(path, { ...configs[single], capacityPages });
    console.log(JSON.stringify({ misses: s.misses }));
    Deno.exit(0);
  }
  const runs = Number(arg("runs", "5"));
  const naiveN = Number(arg("naive", "200000"));
  try {
    await Deno.stat(path);
  } catch {
    console.error(`generating ${path} …`);
    await writeZipfTrace(REFERENCE_TRACE, path);
  }
  const ids = await loadIds(path);
  const nReq = ids.length;
  const rows: { figure: string; value: string; misses?: number }[] = [];
  const results: Record<string, unknown> = { trace: path, requests: nReq, capacityPages };

  for (const [name, cfg] of Object.entries(configs)) {
    const config = { ...cfg, capacityPages };
    const replay: number[] = [], stream: number[] = [], proc: number[] = [];
    let misses = -1;
    for (let r = 0; r < runs; r++) {
      const a = runReplay(ids, config);
      if (misses >= 0 && a.misses !== misses) throw new Error(`${name}: miss count changed`);
      misses = a.misses;
      replay.push(nReq / a.seconds);
    }
    for (let r = 0; r < Math.min(runs, 3); r++) {
      const s = await runStream(path, config);
      if (s.misses !== misses) throw new Error(`${name}: streamed miss count differs`);
      stream.push(nReq / s.seconds);
    }
    if (name !== "active_inactive (pg_referenced)") {
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-read",
            import.meta.filename!,
            "--single",
            name,
            "--trace",
            path,
            "--capacity",
            String(capacityPages),
          ],
          stdout: "piped",
        }).output();
        const s = (performance.now() - t0) / 1000;
        if (!out.success) throw new Error(`child run of ${name} failed`);
        const child = JSON.parse(new TextDecoder().decode(out.stdout));
        if (child.misses !== misses) throw new Error(`${name}: child miss count differs`);
        proc.push(nReq / s);
      }
    }
    results[name] = {
      misses,
      hitRatio: 1 - misses / nReq,
      replayReqPerSec: median(replay),
      streamReqPerSec: median(stream),
      processReqPerSec: proc.length ? median(proc) : null,
    };
    const m = (x: number) => (x / 1e6).toFixed(2) + " M/s";
    rows.push({ figure: `${name}: misses`, value: String(misses) });
    rows.push({ figure: `${name}: replay only`, value: m(median(replay)) });
    rows.push({ figure: `${name}: read + decode + replay`, value: m(median(stream)) });
    if (proc.length) rows.push({ figure: `${name}: whole process`, value: m(median(proc)) });
  }

  const naive = runNaiveMapLru(ids, Math.min(naiveN, nReq), capacityPages);
  const exact = runReplay(ids.subarray(0, Math.min(naiveN, nReq)), { capacityPages });
  if (naive.misses !== exact.misses) {
    throw new Error(`naive Map LRU misses ${naive.misses} != pure LRU ${exact.misses}`);
  }
  results["naive Map LRU"] = {
    requests: Math.min(naiveN, nReq),
    misses: naive.misses,
    reqPerSec: Math.min(naiveN, nReq) / naive.seconds,
  };
  rows.push({
    figure: `naive Map LRU (delete + set), first ${Math.min(naiveN, nReq)} requests`,
    value: `${(Math.min(naiveN, nReq) / naive.seconds / 1e6).toFixed(3)} M/s ` +
      `(misses ${naive.misses} = pure LRU's)`,
  });

  if (Deno.args.includes("--json")) console.log(JSON.stringify(results, null, 2));
  else {
    console.log(`trace ${path}: ${nReq} requests; cache ${capacityPages} pages; ${runs} runs`);
    console.log("| figure | value |\n| --- | --- |");
    for (const r of rows) console.log(`| ${r.figure} | ${r.value} |`);
  }
}
