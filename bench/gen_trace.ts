/**
 * Writes the reference trace: Zipf(α) requests over N objects of 4 KiB in libCacheSim's
 * oracleGeneral format, with `next_access_vtime` from a backward pass, seeded.
 *
 * Default: 10 M requests, α = 1.0, 1 M objects, seed 1, to
 * `out/traces/zipf1.0_10M.oracleGeneral.bin`.
 *
 *     deno run --allow-write=out --allow-read=out bench/gen_trace.ts \
 *       [--requests 10000000] [--objects 1000000] [--alpha 1.0] [--seed 1] [--out PATH]
 *
 * Records: clock_time = request number, obj_id = Zipf rank - 1 (id 0 is the most popular),
 * obj_size = 4096. Randomness: the engine's `Rng(seed)` (xoroshiro128+) feeding `Zipf`
 * (rejection-inversion, Hörmann & Derflinger 1996).
 *
 * @module
 */

// Direct imports (not mod.ts) keep start-up short for the whole-process figures.
import {
  computeNextAccessVtime,
  OracleGeneralBatch,
  OracleGeneralWriter,
} from "../lib/workload/oracle_general.ts";
import { Zipf } from "../lib/workload/zipf.ts";
import { Rng } from "../lib/sim/rng.ts";

/** Parameters of the reference trace. */
export interface ZipfTraceParams {
  /** Number of requests. */
  requests: number;
  /** Number of distinct objects. */
  objects: number;
  /** Zipf exponent. */
  alpha: number;
  /** Seed of the `Rng`. */
  seed: number;
  /** Object size in bytes. */
  objSizeBytes?: number;
}

/** Default parameters: 10 M requests, Zipf α = 1.0 over 1 M objects of 4 KiB, seed 1. */
export const REFERENCE_TRACE: ZipfTraceParams = {
  requests: 10_000_000,
  objects: 1_000_000,
  alpha: 1.0,
  seed: 1,
};

/** Default path of the reference trace. */
export const REFERENCE_TRACE_PATH = "out/traces/zipf1.0_10M.oracleGeneral.bin";

/** Generate the whole trace in memory, next-access times included. */
export function generateZipfTrace(p: ZipfTraceParams): OracleGeneralBatch {
  const zipf = new Zipf(p.objects, p.alpha, new Rng(p.seed));
  const size = p.objSizeBytes ?? 4096;
  const b = new OracleGeneralBatch(p.requests);
  for (let i = 0; i < p.requests; i++) {
    b.clockTime[i] = i;
    b.objIdLo[i] = zipf.sampleId();
    b.objSize[i] = size;
  }
  b.length = p.requests;
  computeNextAccessVtime(b);
  return b;
}

/** Generate and write the trace to `path`; returns its SHA-256 in hex. */
export async function writeZipfTrace(p: ZipfTraceParams, path: string): Promise<string> {
  const b = generateZipfTrace(p);
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const file = await Deno.create(path);
  const w = new OracleGeneralWriter(file.writable);
  const step = 1 << 20;
  for (let s = 0; s < b.length; s += step) await w.writeBatch(b, s, Math.min(b.length, s + step));
  await w.close();
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (x) => x.toString(16).padStart(2, "0")).join("");
}

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1]! : fallback;
}

if (import.meta.main) {
  const p: ZipfTraceParams = {
    requests: Number(arg("requests", String(REFERENCE_TRACE.requests))),
    objects: Number(arg("objects", String(REFERENCE_TRACE.objects))),
    alpha: Number(arg("alpha", String(REFERENCE_TRACE.alpha))),
    seed: Number(arg("seed", String(REFERENCE_TRACE.seed))),
  };
  const path = arg("out", REFERENCE_TRACE_PATH);
  const t0 = performance.now();
  const sha = await writeZipfTrace(p, path);
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `wrote ${path}: ${p.requests} requests, Zipf(${p.alpha}) over ${p.objects} objects, ` +
      `seed ${p.seed}, ${p.requests * 24} bytes, sha256 ${sha} (${s} s)`,
  );
}
