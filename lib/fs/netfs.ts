/**
 * A network filesystem with a local cache (netfs + fscache): folios are read from a server, and
 * what was read is then copied to a local cache with PG_private_2 (PG_fscache until v6.10) set
 * on each folio while its cache write is in flight — the second "writeback" bit of CLAIMS.md
 * thread 003.
 *
 * Follows fs/netfs/misc.c `netfs_release_folio` (dirty or PG_private → refuse; PG_private_2 →
 * refuse for kswapd and !__GFP_FS, else wait) and `netfs_invalidate_folio`
 * (`folio_wait_private_2`, then drop private data), read at torvalds/linux 06fa229c (v6.11+,
 * after the ceph revert); include/linux/netfs.h `folio_start_private_2` (VM_BUG_ON_FOLIO if
 * already set, `folio_get`, set the bit) and mm/filemap.c `folio_end_private_2`
 * (`clear_bit_unlock`, `folio_wake_bit`, `folio_put`) and `folio_wait_private_2`
 * (`while (PG_private_2) folio_wait_bit`) as in v6.x trees; and, for the read side, the
 * netfs read helper's unlock of the read folios (fs/netfs/read_helper.c in v5.13, later
 * buffered_read.c [U]): PG_private_2 is set while the folio is still locked, then the folio is
 * unlocked (here `folio_end_read`), then the cache write is issued. Readahead holds no folio
 * references, only the lock ("Willy wanted me to drop the refcount and rely on PG_locked
 * alone", David Howells, 9 Feb 2021).
 *
 * The older variants are switches. `private2Ref: "noRef"` is the API of the Feb 2021 posting
 * (`set_page_fscache` without a reference, `unlock_page_fscache` = clear + wake, no put);
 * `"ref"` is v5.13's "mm: Add an unlock function for PG_private_2/PG_fscache"; `"era"` follows
 * `mm.era.private2TakesRef`. `private2Wait: "if"` is the posting's `wait_on_page_fscache`
 * (`if (PageFsCache) wait_on_page_bit` — one wake and out); `"while"` the loop every merged
 * version has. `releaseWaits: false` is a netfs whose release/invalidate do not wait on
 * PG_private_2 at all, as after ae678317b95e "netfs: Remove deprecated use of PG_private_2 as a
 * second writeback flag" (v6.10) and before the ceph revert restored the waits [U]: a freeing
 * path that skips the waits.
 *
 * Between the clear of PG_private_2 and the wake there is an injectable window δ
 * (`endDelayNs`), as for PG_writeback in writeback.ts. The wake is keyed by the frame in the
 * hashed folio wait table, so without a reference a wake can reach a waiter of the frame's next
 * use. Each cache write keeps a {@link FolioRef} (pfn + generation): a completion into a freed or
 * reused frame, and a wake issued after the frame was freed or reused during δ, are recorded as
 * `use-after-free` violations (the simulated KASAN report) and counted.
 *
 * Checker "lost wait": a netfs waiter that finds PG_private_2 clear on the folio now cached at
 * (mapping, index) while a cache write for that index is still in flight on another live folio
 * whose PG_private_2 is set — what happens when migration moves a folio during its cache write
 * and does not carry the bit (Hugh Dickins, Sep 2025) — records a `lost wait` violation.
 *
 * Divergence: the model's `->release_folio` cannot sleep, so `netfs_release_folio` refuses a
 * PG_private_2 folio in every context (the kernel waits unless the caller is kswapd or lacks
 * __GFP_FS); reclaim retries it later. No claim here depends on reclaim waiting.
 *
 * Left out: the netfs_io_request/subrequest machinery (one server read and one cache write per
 * call), read-from-cache, short reads and retries, `netfs_page_mkwrite`, streaming writes and
 * write-back to the server, the v6.10+ cache-write path through PG_writeback, fscache cookies.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { Process, Task } from "../sim/engine.ts";
import { Latency, sampleLatency } from "../sim/latency.ts";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same, zodOf } from "../_config.ts";
import {
  AddressSpace,
  type AddressSpaceOperations,
  type ReadaheadControl,
} from "../mm/address_space.ts";
import { folioDetachPrivate, folioEndRead, folioGet, folioPut, folioWaitBit } from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import type { FolioRef, Mm } from "../mm/mm.ts";
import { readaheadFolio } from "../mm/readahead.ts";
import { fallbackMigrateFolio, filemapMigrateFolio } from "../mm/migrate_folio.ts";
import { createFsFile } from "./_file.ts";

// ------------------------------------------------------------------ PG_private_2 primitives

/**
 * Counters of the PG_private_2 primitives of one {@link Mm}.
 *
 * @example
 * ```ts
 * import {
 *   Engine,
 *   folioAlloc,
 *   folioEndPrivate2,
 *   folioStartPrivate2,
 *   Mm,
 *   private2Stats,
 *   type Private2Stats,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 16 } });
 * const f = folioAlloc(mm, 0);
 * const ref = mm.ref(f);
 * folioStartPrivate2(mm, f, { takeRef: true }); // folio_get + set the bit
 * env.spawn("cache write", function* () { yield* folioEndPrivate2(mm, ref, { takeRef: true }); });
 * env.run();
 * const s: Private2Stats = private2Stats(mm);
 * if (s.started !== 1 || s.ended !== 1 || s.refOps !== 2 || s.staleWakes !== 0) {
 *   throw new Error(JSON.stringify(s));
 * }
 * ```
 */
export interface Private2Stats {
  /** folio_start_private_2 calls that set the bit. */
  started: number;
  /** folio_end_private_2 calls that cleared it. */
  ended: number;
  /** folio_get/folio_put calls made by start and end (the cost of pairing the bit with a ref). */
  refOps: number;
  /** Cache-write completions that found their frame freed or reused (use-after-free). */
  staleCompletions: number;
  /** Ends whose frame was freed or reused during δ, so the wake touched a freed frame. */
  staleWakes: number;
  /** folio_wait_private_2 sleeps. */
  waits: number;
  /** Waits that returned with PG_private_2 still set ("woken but bit still set"). */
  wokenWithBitSet: number;
}

const p2stats = new WeakMap<Mm, Private2Stats>();

/**
 * The PG_private_2 counters of `mm` (created on first use).
 *
 * @example
 * ```ts
 * import { Engine, Mm, private2Stats } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 16 } });
 * if (private2Stats(mm).started !== 0) throw new Error("nothing started yet");
 * ```
 */
export function private2Stats(mm: Mm): Private2Stats {
  let s = p2stats.get(mm);
  if (!s) {
    s = {
      started: 0,
      ended: 0,
      refOps: 0,
      staleCompletions: 0,
      staleWakes: 0,
      waits: 0,
      wokenWithBitSet: 0,
    };
    p2stats.set(mm, s);
  }
  return s;
}

/**
 * Options of {@link folioStartPrivate2} and {@link folioEndPrivate2}.
 *
 * @example
 * ```ts
 * import {
 *   Engine,
 *   folioAlloc,
 *   folioEndPrivate2,
 *   folioStartPrivate2,
 *   Mm,
 *   PG,
 *   type Private2Options,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 16 } });
 * const f = folioAlloc(mm, 0);
 * const ref = mm.ref(f);
 * // The Feb 2021 API: no reference with the bit; a 10 ns window between clear and wake.
 * const opts: Private2Options = { takeRef: false, delayNs: 10 };
 * folioStartPrivate2(mm, f, opts);
 * if (mm.mem.refcount[f] !== 1) throw new Error("no reference taken");
 * env.spawn("cache write", function* () { yield* folioEndPrivate2(mm, ref, opts); });
 * const r = env.run();
 * if (r.nowNs !== 10 || mm.mem.testFlag(f, PG.private_2)) throw new Error(`${r.nowNs}`);
 * ```
 */
export interface Private2Options {
  /** Pair the bit with a folio reference (default `mm.era.private2TakesRef`). */
  takeRef?: boolean;
  /** δ: ns between clearing the bit and waking its waiters (end only; default 0). */
  delayNs?: number;
  /** Who will end it, for wait-for graphs (start only; default the running task). */
  holder?: Task | null;
}

/**
 * folio_start_private_2() (include/linux/netfs.h, v5.13+; `set_page_fscache` in the Feb 2021
 * posting): mark a folio as being written to the cache. With `takeRef` (v5.13+) it takes a
 * folio reference first. A folio already marked is VM_BUG_ON_FOLIO ("starting a second write
 * before the first one finishes is not allowed"), recorded as a violation; returns false then.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioStartPrivate2, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 16 }, version: "6.12" });
 * const f = folioAlloc(mm, 0);
 * folioStartPrivate2(mm, f);
 * if (!mm.mem.testFlag(f, PG.private_2) || mm.mem.refcount[f] !== 2) throw new Error("bit + ref");
 * ```
 */
export function folioStartPrivate2(mm: Mm, folio: number, opts: Private2Options = {}): boolean {
  const mem = mm.mem;
  if (mem.testFlag(folio, PG.private_2)) {
    mm.env.violation(
      "VM_BUG_ON_FOLIO(folio_test_private_2)",
      `folio_start_private_2: ${mm.describeFolio(folio)} is already being written to the cache`,
    );
    return false;
  }
  const s = private2Stats(mm);
  if (opts.takeRef ?? mm.era.private2TakesRef) {
    folioGet(mm, folio);
    s.refOps++;
  }
  mem.setFlag(folio, PG.private_2);
  mm.setBitHolder(folio, PG.private_2, opts.holder ?? mm.env.current);
  s.started++;
  mm.env.emit("netfs_folio_start_private_2", folio, null, mm.describeFolio(folio));
  return true;
}

/**
 * folio_end_private_2() (mm/filemap.c, v5.13+; `unlock_page_fscache` in the Feb 2021 posting):
 * the cache write of `ref`'s folio is done.
 *
 * 1. The I/O checks its folio first: if the frame was freed or reused since the write started
 *    (possible only without the reference), the completion is a use-after-free — recorded,
 *    counted in {@link Private2Stats}.staleCompletions, and nothing else is done.
 * 2. clear_bit_unlock(PG_private_2). A folio without the bit is VM_BUG_ON_FOLIO (recorded).
 * 3. The window δ (`opts.delayNs`; a preemption point when 0).
 * 4. If the frame was freed or reused during δ, the wake below touches a freed frame: recorded
 *    as use-after-free and counted in staleWakes. Then, if PG_waiters is set,
 *    folio_wake_bit(PG_private_2) through the hashed table — it may reach a waiter of the
 *    frame's next use.
 * 5. With `takeRef`: folio_put, the reference taken at start.
 *
 * Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioStartPrivate2, folioEndPrivate2, folioWaitPrivate2 } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 16 }, version: "6.12" });
 * const f = folioAlloc(mm, 0);
 * const ref = mm.ref(f);
 * folioStartPrivate2(mm, f);
 * let at = -1;
 * env.spawn("waiter", function* () { yield* folioWaitPrivate2(mm, f); at = env.nowNs; });
 * env.spawn("cache write", function* () { yield env.sleep(100); yield* folioEndPrivate2(mm, ref, { delayNs: 5 }); });
 * env.run();
 * if (at !== 105 || mm.mem.refcount[f] !== 1) throw new Error(`woken at ${at}`);
 * ```
 */
export function* folioEndPrivate2(
  mm: Mm,
  ref: FolioRef,
  opts: Private2Options = {},
): Process<void> {
  const mem = mm.mem, env = mm.env;
  const folio = ref.pfn;
  const s = private2Stats(mm);
  if (!mm.checkLive(ref, "folio_end_private_2: cache write completion")) {
    s.staleCompletions++;
    return;
  }
  if (!mem.testFlag(folio, PG.private_2)) {
    env.violation(
      "VM_BUG_ON_FOLIO(!folio_test_private_2)",
      `folio_end_private_2: ${mm.describeFolio(folio)} is not being written to the cache`,
    );
    return;
  }
  mem.clearFlag(folio, PG.private_2); // clear_bit_unlock()
  mm.setBitHolder(folio, PG.private_2, null);
  s.ended++;
  env.emit("netfs_folio_end_private_2", folio, null, mm.describeFolio(folio));
  const delay = opts.delayNs ?? 0;
  yield delay > 0 ? env.sleep(delay) : env.point();
  if (!mm.isLive(ref)) {
    s.staleWakes++;
    mm.checkLive(ref, "folio_end_private_2: folio_wake_bit after δ");
  }
  if (mem.testFlag(folio, PG.waiters)) mm.waitTable.wakeBit(folio, PG.private_2);
  if (opts.takeRef ?? mm.era.private2TakesRef) {
    folioPut(mm, folio);
    s.refOps++;
  }
}

/**
 * folio_wait_private_2() (mm/filemap.c, v5.13+): wait for PG_private_2 to clear. With `loop`
 * (default `mm.era.private2TakesRef`: the loop came with the reference in v5.13) it waits
 * `while` the bit is set; otherwise `if` it is set, once — the Feb 2021 `wait_on_page_fscache` —
 * and a wake for another write of the frame returns with the bit still set (counted in
 * {@link Private2Stats}.wokenWithBitSet). The caller holds a reference. Returns true if it
 * slept. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioWaitPrivate2 } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 16 } });
 * const f = folioAlloc(mm, 0);
 * let slept = true;
 * env.spawn("t", function* () { slept = yield* folioWaitPrivate2(mm, f); });
 * env.run();
 * if (slept) throw new Error("no cache write, no wait");
 * ```
 */
export function* folioWaitPrivate2(
  mm: Mm,
  folio: number,
  opts: { loop?: boolean } = {},
): Process<boolean> {
  const mem = mm.mem;
  const s = private2Stats(mm);
  const loop = opts.loop ?? mm.era.private2TakesRef;
  let slept = false;
  while (mem.testFlag(folio, PG.private_2)) {
    mm.env.emit("folio_wait_private_2", folio);
    s.waits++;
    yield* folioWaitBit(mm, folio, PG.private_2);
    slept = true;
    if (!loop) {
      if (mem.testFlag(folio, PG.private_2)) s.wokenWithBitSet++;
      break;
    }
  }
  return slept;
}

// ------------------------------------------------------------------ the filesystem

/**
 * Configuration of a {@link Netfs}.
 *
 * @example
 * ```ts
 * import { NetfsConfig } from "@mmsim/mmsim";
 * const c = NetfsConfig.parse({ endDelayNs: 100 });
 * if (c.private2Ref !== "era" || !c.releaseWaits || c.endDelayNs !== 100) throw new Error();
 * if (NetfsConfig.safeParse({ private2Wait: "until" }).success) throw new Error("if | while | era");
 * ```
 */
export interface NetfsConfig {
  /** Name in traces (default "netfs"). */
  name: string;
  /** Request-to-reply time of a server read; `never` = a hung server (default 200 µs). */
  serverLatency: Latency;
  /** Time to write a folio's data to the local cache (default 100 µs). */
  cacheWriteLatency: Latency;
  /** δ: ns between clearing PG_private_2 and waking its waiters (default 0). */
  endDelayNs: number;
  /** Pair PG_private_2 with a folio reference: "ref" (v5.13+), "noRef" (Feb 2021), "era". */
  private2Ref: "era" | "ref" | "noRef";
  /** folio_wait_private_2: "while" (v5.13+), "if" (Feb 2021 wait_on_page_fscache), "era". */
  private2Wait: "era" | "if" | "while";
  /** release/invalidate look at PG_private_2 (false: v6.10 between ae678317b95e and the revert). */
  releaseWaits: boolean;
  /** Copy what was read from the server to the cache (NETFS_RREQ_COPY_TO_CACHE) (default true). */
  copyToCache: boolean;
  /** ->migrate_folio: filemap_migrate_folio (as ceph [U]) or none (fallback_migrate_folio). */
  migrateFolio: "filemap" | "fallback";
}

/**
 * Input of {@link NetfsConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { Engine, Mm, Netfs, type NetfsConfigInput } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 16 }, version: "6.12" });
 * // The Feb 2021 posting on a v6.12 kernel: no reference, `if` instead of `while`.
 * const input: NetfsConfigInput = { private2Ref: "noRef", private2Wait: "if" };
 * const old = new Netfs(mm, input);
 * const now = new Netfs(mm, {}); // "era": what v6.12 does
 * if (old.takesRef || old.waitLoops) throw new Error("the posting's rules");
 * if (!now.takesRef || !now.waitLoops) throw new Error("v6.12's rules");
 * ```
 */
export type NetfsConfigInput = Partial<NetfsConfig>;

const netfsSchema = z.object({
  name: z.string().default("netfs"),
  serverLatency: zodOf(Latency).default({ kind: "fixed", ns: 200_000 }),
  cacheWriteLatency: zodOf(Latency).default({ kind: "fixed", ns: 100_000 }),
  endDelayNs: z.number().int().min(0).default(0),
  private2Ref: z.enum(["era", "ref", "noRef"]).default("era"),
  private2Wait: z.enum(["era", "if", "while"]).default("era"),
  releaseWaits: z.boolean().default(true),
  copyToCache: z.boolean().default(true),
  migrateFolio: z.enum(["filemap", "fallback"]).default("filemap"),
});
const _netfsTypes: Same<z.output<typeof netfsSchema>, NetfsConfig> = true;
void _netfsTypes;

/** The {@link NetfsConfig} schema. */
export const NetfsConfig: ConfigSchema<NetfsConfig, NetfsConfigInput> = defineConfig(
  "NetfsConfig",
  netfsSchema,
);

/**
 * Counters of a {@link Netfs} (the PG_private_2 ones are in {@link private2Stats}).
 *
 * @example
 * ```ts
 * import {
 *   Engine,
 *   filemapAddFolio,
 *   folioAlloc,
 *   folioPut,
 *   folioTrylock,
 *   Mm,
 *   Netfs,
 *   type NetfsStats,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 }, version: "6.12" });
 * const fs = new Netfs(mm);
 * const file = fs.createFile({ name: "a", fillPages: 2 });
 * const folios = [0, 1].map((index) => {
 *   const f = folioAlloc(mm, 0);
 *   folioTrylock(mm, f);
 *   filemapAddFolio(mm, file, f, index);
 *   folioPut(mm, f); // readahead holds only the lock
 *   return f;
 * });
 * fs.submitRead(file, folios);
 * env.run();
 * const s: NetfsStats = fs.stats;
 * if (s.serverReads !== 1 || s.pagesRead !== 2 || s.cacheWrites !== 2 || s.cacheWritesDone !== 2) {
 *   throw new Error(JSON.stringify(s));
 * }
 * ```
 */
export interface NetfsStats {
  /** Server reads issued. */
  serverReads: number;
  /** Pages read from the server. */
  pagesRead: number;
  /** Read completions that found their folio freed or reused (use-after-free). */
  staleReads: number;
  /** Folios whose cache write was issued. */
  cacheWrites: number;
  /** Cache writes completed (folio_end_private_2 called). */
  cacheWritesDone: number;
  /** ->release_folio refusals because of PG_private_2. */
  releaseRefused: number;
  /** Waiters that found the bit clear while the write went on in another folio (lost wait). */
  lostWaits: number;
}

/**
 * A cache write in flight: the folio it writes (pfn + generation) and the page it is for.
 *
 * @example
 * ```ts
 * import {
 *   Engine,
 *   filemapAddFolio,
 *   folioAlloc,
 *   folioPut,
 *   folioTrylock,
 *   type InflightWrite,
 *   Mm,
 *   Netfs,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 }, version: "6.12" });
 * const fs = new Netfs(mm, {
 *   serverLatency: { kind: "fixed", ns: 1_000 },
 *   cacheWriteLatency: { kind: "fixed", ns: 500 },
 * });
 * const file = fs.createFile({ name: "a", fillPages: 4 });
 * const f = folioAlloc(mm, 0);
 * folioTrylock(mm, f);
 * filemapAddFolio(mm, file, f, 3);
 * folioPut(mm, f);
 * fs.submitRead(file, [f]);
 * let during: InflightWrite[] = [];
 * env.spawn("probe", function* (e) { yield e.sleep(1_200); during = [...fs.inflight.values()]; });
 * env.run();
 * const w = during[0];
 * if (during.length !== 1 || w?.index !== 3 || w.mappingId !== file.id || w.ref.pfn !== f) {
 *   throw new Error(JSON.stringify(during));
 * }
 * if (fs.inflight.size !== 0) throw new Error("done when the cache write completes");
 * ```
 */
export interface InflightWrite {
  /** The folio being written. */
  ref: FolioRef;
  /** Mapping id at the start of the write. */
  mappingId: number;
  /** Page index at the start of the write. */
  index: number;
}

/**
 * A network filesystem with a local cache (see the module doc).
 *
 * @example A read fills the folio, then the copy to the cache holds PG_private_2 for its duration
 * ```ts
 * import { Engine, Mm, Netfs, PG, folioAlloc, folioTrylock, filemapAddFolio, folioPut } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 }, version: "6.12" });
 * const fs = new Netfs(mm, { serverLatency: { kind: "fixed", ns: 1000 }, cacheWriteLatency: { kind: "fixed", ns: 500 } });
 * const file = fs.createFile({ name: "a", fillPages: 1 });
 * const f = folioAlloc(mm, 0);
 * folioTrylock(mm, f);
 * filemapAddFolio(mm, file, f, 0);
 * folioPut(mm, f);                  // readahead holds no reference, only the lock
 * fs.submitRead(file, [f]);
 * let during = false;
 * env.spawn("probe", function* () { yield env.sleep(1200); during = mm.mem.testFlag(f, PG.private_2); });
 * env.run();
 * if (!during || mm.mem.testFlag(f, PG.private_2) || !mm.mem.testFlag(f, PG.uptodate)) throw new Error();
 * if (mm.mem.data[f] !== file.backing.get(0) || mm.mem.refcount[f] !== 1) throw new Error("data, refs");
 * ```
 */
export class Netfs {
  /** The memory context. */
  readonly mm: Mm;
  /** Parsed configuration. */
  readonly config: NetfsConfig;
  /** The address-space operations its files use. */
  readonly aops: AddressSpaceOperations;
  /** Counters. */
  readonly stats: NetfsStats = {
    serverReads: 0,
    pagesRead: 0,
    staleReads: 0,
    cacheWrites: 0,
    cacheWritesDone: 0,
    releaseRefused: 0,
    lostWaits: 0,
  };
  /** Cache writes in flight, by id. */
  readonly inflight: Map<number, InflightWrite> = new Map();
  #nextId = 1;

  /** Create the filesystem. */
  constructor(mm: Mm, config: NetfsConfigInput = {}) {
    this.mm = mm;
    this.config = NetfsConfig.parse(config);
    // deno-lint-ignore no-this-alias
    const fs = this;
    const migrate = this.config.migrateFolio === "filemap"
      ? filemapMigrateFolio
      : fallbackMigrateFolio;
    this.aops = {
      *readFolio(_mm: Mm, mapping: AddressSpace, folio: number): Process<number> {
        fs.submitRead(mapping, [folio]);
        yield* [];
        return 0;
      },
      *readahead(mm: Mm, rac: ReadaheadControl): Process<void> {
        // netfs_readahead(): every folio of the batch goes to the request.
        const folios: number[] = [];
        for (let f = readaheadFolio(mm, rac); f >= 0; f = readaheadFolio(mm, rac)) folios.push(f);
        fs.submitRead(rac.mapping, folios);
        yield* [];
      },
      releaseFolio(_mm: Mm, _mapping: AddressSpace, folio: number, _gfp: number): boolean {
        return fs.releaseFolio(folio);
      },
      *invalidateFolio(
        _mm: Mm,
        _mapping: AddressSpace,
        folio: number,
        offset: number,
        length: number,
      ): Process<void> {
        yield* fs.invalidateFolio(folio, offset, length);
      },
      migrateFolio: migrate,
    };
  }

  /** Whether PG_private_2 is paired with a reference here (config, else the era). */
  get takesRef(): boolean {
    const r = this.config.private2Ref;
    return r === "era" ? this.mm.era.private2TakesRef : r === "ref";
  }

  /** Whether folio_wait_private_2 loops here (config, else the era). */
  get waitLoops(): boolean {
    const w = this.config.private2Wait;
    return w === "era" ? this.mm.era.private2TakesRef : w === "while";
  }

  /** Create a file: an address space with these aops, optionally sized and filled. */
  createFile(opts: { name: string; sizePages?: number; fillPages?: number }): AddressSpace {
    return createFsFile(this.mm, this, this.aops, opts);
  }

  /**
   * netfs_readahead()/netfs_read_folio() → server read → netfs_rreq_unlock_folios(): a task
   * sleeps the server latency; then for each (locked) folio it fills the data, sets
   * PG_private_2 ({@link folioStartPrivate2}) while the folio is still locked if the read is
   * copied to the cache, and ends the read (folio_end_read: uptodate + unlock); then it issues
   * the cache write ({@link Netfs.writeToCache}). No folio reference is held by the read.
   * Returns the read task.
   */
  submitRead(mapping: AddressSpace, folios: readonly number[]): Task {
    const mm = this.mm, env = mm.env;
    const id = this.#nextId++;
    const list = [...folios];
    const refs = list.map((f) => mm.ref(f));
    this.stats.serverReads++;
    // deno-lint-ignore no-this-alias
    const fs = this;
    const task = env.spawn(`${this.config.name}-read#${id}`, function* (e, self) {
      const ns = sampleLatency(self.rng, fs.config.serverLatency);
      if (ns === Infinity) yield e.hang(`${fs.config.name} read #${id} never completes`);
      else yield e.sleep(ns);
      const toCache: FolioRef[] = [];
      for (let k = 0; k < list.length; k++) {
        const folio = list[k]!;
        if (!mm.checkLive(refs[k]!, `${fs.config.name} read #${id} completion`)) {
          fs.stats.staleReads++;
          continue;
        }
        const n = 1 << mm.mem.order[folio]!;
        const base = mm.mem.index[folio]!;
        for (let i = 0; i < n; i++) mm.mem.data[folio + i] = mapping.backing.get(base + i) ?? 0;
        fs.stats.pagesRead += n;
        if (fs.config.copyToCache && fs.startCacheWrite(folio)) toCache.push(mm.ref(folio));
        folioEndRead(mm, folio, true);
      }
      if (toCache.length > 0) fs.#issueCacheWrite(mapping, toCache);
    });
    for (const f of list) mm.setBitHolder(f, PG.locked, task);
    return task;
  }

  /**
   * folio_start_private_2 with this filesystem's reference rule, recording the write as in
   * flight for the lost-wait checker. Returns false (VM_BUG_ON recorded) if the bit was set.
   */
  startCacheWrite(folio: number): boolean {
    if (!folioStartPrivate2(this.mm, folio, { takeRef: this.takesRef })) return false;
    this.stats.cacheWrites++;
    return true;
  }

  /**
   * Write folios of `mapping` to the cache (afs/ceph's write to the cache under the folio lock,
   * 5.13 `folio_wait_fscache` + `folio_start_fscache`): with the folio locked by the caller,
   * wait for a previous cache write ({@link Netfs.waitPrivate2}), start this one, and issue it.
   * A wait that returned with the bit still set makes the start a VM_BUG_ON (recorded).
   * Returns false if it could not start. Use with `yield*`.
   */
  *writeToCache(mapping: AddressSpace, folio: number): Process<boolean> {
    yield* this.waitPrivate2(folio);
    if (!this.startCacheWrite(folio)) return false;
    this.#issueCacheWrite(mapping, [this.mm.ref(folio)]);
    return true;
  }

  #issueCacheWrite(mapping: AddressSpace, refs: FolioRef[]): Task {
    const mm = this.mm, env = mm.env;
    const id = this.#nextId++;
    const ids: number[] = [];
    for (const ref of refs) {
      const wid = this.#nextId++;
      ids.push(wid);
      this.inflight.set(wid, { ref, mappingId: mapping.id, index: mm.mem.index[ref.pfn]! });
    }
    // deno-lint-ignore no-this-alias
    const fs = this;
    const takeRef = this.takesRef;
    const delayNs = this.config.endDelayNs;
    const task = env.spawn(`${this.config.name}-cachew#${id}`, function* (e, self) {
      const ns = sampleLatency(self.rng, fs.config.cacheWriteLatency);
      if (ns === Infinity) yield e.hang(`${fs.config.name} cache write #${id} never completes`);
      else yield e.sleep(ns);
      for (let k = 0; k < refs.length; k++) {
        fs.inflight.delete(ids[k]!);
        fs.stats.cacheWritesDone++;
        yield* folioEndPrivate2(mm, refs[k]!, { takeRef, delayNs });
      }
    });
    for (const ref of refs) {
      if (mm.isLive(ref)) mm.setBitHolder(ref.pfn, PG.private_2, task);
    }
    return task;
  }

  /**
   * folio_wait_private_2 with this filesystem's wait rule, then the lost-wait check: if the bit
   * is clear but a cache write for the same (mapping, index) is still in flight on another
   * live folio that has PG_private_2 set, record a `lost wait` violation. Use with `yield*`.
   */
  *waitPrivate2(folio: number): Process<void> {
    const mm = this.mm;
    yield* folioWaitPrivate2(mm, folio, { loop: this.waitLoops });
    if (mm.mem.testFlag(folio, PG.private_2)) return;
    const mappingId = mm.mem.mapping[folio]!, index = mm.mem.index[folio]!;
    if (mappingId === 0) return;
    for (const w of this.inflight.values()) {
      if (w.mappingId !== mappingId || w.index !== index || w.ref.pfn === folio) continue;
      if (!mm.isLive(w.ref) || !mm.mem.testFlag(w.ref.pfn, PG.private_2)) continue;
      this.stats.lostWaits++;
      mm.env.violation(
        "lost wait",
        `${this.config.name}: ${mm.describeFolio(folio)} has no PG_private_2 while the cache ` +
          `write of index ${index} is still in flight on ${mm.describeFolio(w.ref.pfn)}`,
      );
      return;
    }
  }

  /**
   * netfs_release_folio() (fs/netfs/misc.c): refuse a dirty folio or one with private data;
   * with `releaseWaits`, refuse one with PG_private_2 (see the Divergence in the module doc);
   * otherwise the folio may go.
   */
  releaseFolio(folio: number): boolean {
    const mem = this.mm.mem;
    if (mem.testFlag(folio, PG.dirty)) return false;
    if (mem.testFlag(folio, PG.private)) return false;
    if (this.config.releaseWaits && mem.testFlag(folio, PG.private_2)) {
      this.stats.releaseRefused++;
      return false;
    }
    return true;
  }

  /**
   * netfs_invalidate_folio() (fs/netfs/misc.c): with `releaseWaits`, wait for PG_private_2
   * ([DEPRECATED] folio_wait_private_2, here with the lost-wait check); then, for a whole-folio
   * invalidation, drop the private data. Use with `yield*`.
   */
  *invalidateFolio(folio: number, offset: number, length: number): Process<void> {
    const mm = this.mm;
    if (this.config.releaseWaits) yield* this.waitPrivate2(folio);
    const whole = offset === 0 && length >= (1 << mm.mem.order[folio]!) * mm.mem.pageSizeBytes;
    if (whole && mm.mem.testFlag(folio, PG.private)) folioDetachPrivate(mm, folio);
  }
}
