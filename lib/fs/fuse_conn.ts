/**
 * A FUSE connection and its userspace server: requests move pending → read by a server thread
 * → replied, through /dev/fuse; background requests are throttled by `max_background`.
 *
 * Follows fs/fuse/dev.c (`fuse_request_send_background_locked` / `fuse_request_queue_background`,
 * `flush_bg_queue`, `fuse_dev_do_read`, `fuse_dev_do_write`, `fuse_request_end`) and
 * fs/fuse/fuse_i.h (`struct fuse_req`, `struct fuse_conn`: max_background = 12,
 * congestion_threshold = 9), Linux v3.11 for the request states (INIT, PENDING, READING, SENT,
 * FINISHED) and v6.12 for the background accounting, which kept the same shape.
 *
 * The server is a set of tasks with the USER_SERVER flag. Each takes the oldest pending request
 * and copies its arguments out of the kernel at that moment (`fuse_dev_do_read` →
 * `fuse_copy_args`: a WRITE carries what its pages — temp pages, or the page-cache folios
 * themselves without temp pages — hold when the server reads it, not when it was queued),
 * "handles" it for a latency drawn from its own seeded stream (so replies of several threads
 * come back in any order), then may allocate memory to store it (GFP_KERNEL: the allocation can
 * enter direct reclaim, and with `memcg` set the charge of a memory cgroup at its limit first
 * runs `try_to_free_mem_cgroup_pages` — thread 001's deadlock), applies it to its storage, and
 * replies. A latency of ∞ (`never`) hangs the thread on that request forever; the run reports it
 * as a hung wait.
 *
 * Each request is a wait-for node: it is held by the thread handling it, or by every server
 * thread while it is still pending, so a cycle "server → reclaim → PG_writeback → request →
 * server" shows up in the wait-for report.
 *
 * Left out: interrupts (FUSE_INTERRUPT), forgets, notify messages, the io_uring transport,
 * request allocation throttling (`fc->blocked`; writeback requests never wait on it anyway),
 * memcg accounting itself (a `memcg` server is always at its limit: every charge reclaims first,
 * retrying as mm/memcontrol.c `try_charge_memcg` does, and succeeds once reclaim freed a page;
 * the memcg OOM killer is left out).
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same, zodOf } from "../_config.ts";
import type { Engine, Process, Task } from "../sim/engine.ts";
import { TaskFlag } from "../sim/engine.ts";
import { Latency, sampleLatency } from "../sim/latency.ts";
import { Completion } from "../sim/sync.ts";
import { waitEvent, WaitQueue, type WaitTarget } from "../sim/wait_queue.ts";
import type { Mm } from "../mm/mm.ts";
import { folioPut } from "../mm/folio.ts";
import { folioAllocGfp, GFP_KERNEL } from "../mm/page_alloc.ts";
import { MAX_RECLAIM_RETRIES, tryToFreeMemCgroupPages } from "../mm/vmscan.ts";

/**
 * FUSE opcodes the model uses.
 *
 * @example
 * ```ts
 * import { Engine, FuseConn, type FuseOpcode, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const conn = new FuseConn(new Mm(env, { memory: { nrFrames: 64 } }));
 * const ops: FuseOpcode[] = ["GETATTR", "FLUSH", "GETATTR"];
 * env.spawn("app", function* () {
 *   for (const op of ops) yield* conn.sendSync(conn.newRequest(op, 1, 0));
 * });
 * env.run();
 * if (conn.stats.replied.GETATTR !== 2 || conn.stats.sent.FLUSH !== 1) {
 *   throw new Error(JSON.stringify(conn.stats));
 * }
 * ```
 */
export type FuseOpcode = "READ" | "WRITE" | "FLUSH" | "FSYNC" | "GETATTR";

/**
 * Request states (`enum fuse_req_state` of v3.11; later kernels use flags with the same flow).
 *
 * @example
 * ```ts
 * import { Engine, FuseConn, type FuseReqState, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const conn = new FuseConn(new Mm(env, { memory: { nrFrames: 64 } }), {
 *   latency: { kind: "fixed", ns: 100 },
 * });
 * const seen: FuseReqState[] = [];
 * env.spawn("app", function* (env) {
 *   const req = conn.newRequest("GETATTR", 1, 0);
 *   seen.push(req.state); // INIT: being filled
 *   conn.queueRequest(req);
 *   seen.push(req.state); // PENDING: waiting for a server thread
 *   yield env.sleep(50);
 *   seen.push(req.state); // SENT: read by the server, no reply yet
 *   yield* req.done.wait(env);
 *   seen.push(req.state); // FINISHED: replied
 * });
 * env.run();
 * if (seen.join() !== "INIT,PENDING,SENT,FINISHED") throw new Error(seen.join());
 * ```
 */
export type FuseReqState = "INIT" | "PENDING" | "SENT" | "FINISHED";

/**
 * Configuration of a FUSE server and connection.
 *
 * @example
 * ```ts
 * import { FuseServerConfig } from "@mmsim/mmsim";
 * const c = FuseServerConfig.parse({ threads: 4, latency: { kind: "exponential", meanNs: 2e5 } });
 * if (c.maxBackground !== 12) throw new Error("FUSE_DEFAULT_MAX_BACKGROUND");
 * if (c.memcg !== "none" || c.allocatingThreads !== undefined) throw new Error("defaults");
 * const bad = FuseServerConfig.safeParse({ threads: 0 });
 * if (bad.success || bad.error.issues[0]!.path[0] !== "threads") throw new Error("names the field");
 * ```
 */
export interface FuseServerConfig {
  /** Server threads reading /dev/fuse (libfuse's multithreaded loop), default 1. */
  threads: number;
  /** Time a server thread spends on one request (default fixed 100 µs). */
  latency: Latency;
  /** Pages the server allocates (GFP_KERNEL) while handling each request; default 0. */
  allocPagesPerRequest: number;
  /**
   * Only server threads 0 … allocatingThreads−1 allocate (default: every thread). A server
   * whose worker threads allocate while one dispatcher thread does not, and the like.
   */
  allocatingThreads?: number;
  /**
   * The memory cgroup the server's allocations are charged to, always at its limit: `none`
   * (default; allocations only see the zone's watermarks), `v1` (legacy hierarchy: memcg reclaim
   * is not "sane" and waits on writeback, vmscan.c case 3) or `v2`.
   */
  memcg: "none" | "v1" | "v2";
  /** fc->max_background (FUSE_DEFAULT_MAX_BACKGROUND = 12; /sys/fs/fuse/connections/N/max_background). */
  maxBackground: number;
  /** fc->congestion_threshold (FUSE_DEFAULT_CONGESTION_THRESHOLD = 12 × 3 / 4 = 9; a fixed default, not derived from `maxBackground`). */
  congestionThreshold: number;
  /** Pages per WRITE/READ request (FUSE_MAX_PAGES_PER_REQ = 32 in v3.11). */
  maxPagesPerReq: number;
}

/**
 * Input of {@link FuseServerConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { Engine, FuseConn, type FuseServerConfigInput, Mm } from "@mmsim/mmsim";
 * const input: FuseServerConfigInput = { threads: 3, latency: { kind: "fixed", ns: 2_000 } };
 * const conn = new FuseConn(new Mm(new Engine(), { memory: { nrFrames: 64 } }), input);
 * if (conn.serverThreads.length !== 3) throw new Error("one task per server thread");
 * if (conn.config.maxBackground !== 12) throw new Error("unset fields get the kernel default");
 * ```
 */
export type FuseServerConfigInput = Partial<FuseServerConfig>;

const fuseServerSchema = z.object({
  threads: z.number().int().min(1).max(1024).default(1),
  latency: zodOf(Latency).default({ kind: "fixed", ns: 100_000 }),
  allocPagesPerRequest: z.number().int().min(0).default(0),
  allocatingThreads: z.number().int().min(0).optional(),
  memcg: z.enum(["none", "v1", "v2"]).default("none"),
  maxBackground: z.number().int().min(1).default(12),
  congestionThreshold: z.number().int().min(1).default(9),
  maxPagesPerReq: z.number().int().min(1).default(32),
});
const _fuseServerTypes: Same<z.output<typeof fuseServerSchema>, FuseServerConfig> = true;
void _fuseServerTypes;

/** The {@link FuseServerConfig} schema. */
export const FuseServerConfig: ConfigSchema<FuseServerConfig, FuseServerConfigInput> = defineConfig(
  "FuseServerConfig",
  fuseServerSchema,
);

/**
 * A request (`struct fuse_req` with its args).
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseConn } from "@mmsim/mmsim";
 * const conn = new FuseConn(new Mm(new Engine(), { memory: { nrFrames: 64 } }));
 * const req = conn.newRequest("WRITE", 1, 4);
 * req.tags.push(7);
 * if (req.describe() !== "FUSE_WRITE #1 (ino 1, index 4+1)" || req.state !== "INIT") throw new Error();
 * ```
 */
export class FuseReq implements WaitTarget {
  /** Unique id (`in.h.unique`). */
  readonly unique: number;
  /** Opcode. */
  readonly opcode: FuseOpcode;
  /** Inode number. */
  readonly ino: number;
  /** First page index. */
  index: number;
  /** Content tags carried (WRITE: the data sent; READ: filled by the reply). */
  readonly tags: number[] = [];
  /** Temp pages (pfns) holding the data, for the 2013 writeback path. */
  readonly tempPages: number[] = [];
  /** Page-cache folios the request covers (READ, and WRITE without temp pages). */
  readonly folios: number[] = [];
  /** State. */
  state: FuseReqState = "INIT";
  /** Background request (writeback, readahead). */
  background = false;
  /** Secondary request chained behind this one (`misc.write.next`, 8b284dc47291). */
  next: FuseReq | null = null;
  /** The server thread handling it, once read from /dev/fuse. */
  handledBy: Task | null = null;
  /** The task that created it (it fills the request until it is sent). */
  creator: Task | null = null;
  /** Reply error (0 = success). */
  error = 0;
  /** Completion for synchronous senders. */
  readonly done: Completion;
  /** Called when the reply arrives (`args->end`), in the replying thread's context. */
  end: ((req: FuseReq) => Process<void>) | null = null;
  /** Virtual time it was created, queued, replied. */
  readonly times = { createdNs: 0, queuedNs: -1, repliedNs: -1 };
  readonly #conn: FuseConn;

  /** @internal Use `conn.newRequest`. */
  constructor(conn: FuseConn, unique: number, opcode: FuseOpcode, ino: number, index: number) {
    this.#conn = conn;
    this.unique = unique;
    this.opcode = opcode;
    this.ino = ino;
    this.index = index;
    this.done = new Completion(`reply to ${this.describe()}`);
    this.done.owner = this;
  }

  /** Pages covered. */
  get nrPages(): number {
    return Math.max(this.tags.length, this.folios.length);
  }

  /** "FUSE_WRITE #3 (ino 1, index 0+1)". */
  describe(): string {
    return `FUSE_${this.opcode} #${this.unique} (ino ${this.ino}, index ${this.index}+${this.nrPages})`;
  }

  /**
   * Who must act for it to finish: the handling thread; any server thread while it is pending
   * or queued for a background slot; the task that is still filling it before it is sent.
   */
  holders(): Array<Task | WaitTarget> {
    if (this.state === "FINISHED") return [];
    if (this.handledBy) return [this.handledBy];
    if (this.state === "INIT" && !this.background && this.creator) return [this.creator];
    return [...this.#conn.serverThreads];
  }
}

/**
 * Counters of a connection.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseConn, type FuseConnStats } from "@mmsim/mmsim";
 * const s: FuseConnStats = new FuseConn(new Mm(new Engine(), { memory: { nrFrames: 64 } })).stats;
 * if (Object.keys(s.sent).length !== 0) throw new Error("nothing sent yet");
 * ```
 */
export interface FuseConnStats {
  /** Requests replied, per opcode. */
  replied: Record<string, number>;
  /** Requests sent to userspace, per opcode. */
  sent: Record<string, number>;
}

/**
 * A FUSE connection (`struct fuse_conn`) with its server threads.
 *
 * @example A server answering one synchronous request
 * ```ts
 * import { Engine, Mm, FuseConn } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const conn = new FuseConn(mm, { threads: 2, latency: { kind: "fixed", ns: 500 } });
 * env.spawn("getattr", function* (env) {
 *   const req = conn.newRequest("GETATTR", 1, 0);
 *   yield* conn.sendSync(req);
 * });
 * const r = env.run();
 * if (r.reason !== "done" || r.nowNs !== 500) throw new Error(`${r.reason} at ${r.nowNs}`);
 * ```
 */
export class FuseConn {
  /** The mm context (the server may allocate memory). */
  readonly mm: Mm;
  /** Parsed configuration. */
  readonly config: FuseServerConfig;
  /** fiq->pending: requests waiting for a server thread. */
  readonly pending: FuseReq[] = [];
  /** fc->bg_queue: background requests not yet pending. */
  readonly bgQueue: FuseReq[] = [];
  /** Requests read by a server thread and not replied. */
  readonly processing = new Set<FuseReq>();
  /** fc->num_background. */
  numBackground = 0;
  /** fc->active_background. */
  activeBackground = 0;
  /** fiq->waitq: server threads waiting in read(/dev/fuse). */
  readonly waitq: WaitQueue = Object.assign(new WaitQueue("read(/dev/fuse)"), { idle: true });
  /** Server thread tasks. */
  readonly serverThreads: Task[] = [];
  /** Storage of the server: per inode, index → content tag. */
  readonly storage = new Map<number, Map<number, number>>();
  /** Order in which the server applied WRITEs: [ino, index, tag]. */
  readonly applied: Array<[number, number, number]> = [];
  /** Counters. */
  readonly stats: FuseConnStats = { replied: {}, sent: {} };
  /** Per-opcode handler hooks run by a server thread before replying (the read side fills tags). */
  readonly handlers = new Map<FuseOpcode, (req: FuseReq, server: Task) => Process<void>>();
  /** fc->connected. */
  connected = true;
  #unique = 0;

  /** Create the connection and spawn its server threads on `mm.env`. */
  constructor(mm: Mm, config: FuseServerConfigInput = {}) {
    this.mm = mm;
    this.config = FuseServerConfig.parse(config);
    this.waitq.owners = () => [];
    for (let i = 0; i < this.config.threads; i++) {
      this.serverThreads.push(
        mm.env.spawn(`fuse-server-${i}`, (env, self) => this.#serverThread(env, self, i), {
          flags: TaskFlag.USER_SERVER,
          daemon: true,
        }),
      );
    }
  }

  /** Storage map of an inode. */
  storageOf(ino: number): Map<number, number> {
    let s = this.storage.get(ino);
    if (!s) this.storage.set(ino, s = new Map());
    return s;
  }

  /** fuse_request_alloc + args: a new request in state INIT. */
  newRequest(opcode: FuseOpcode, ino: number, index: number): FuseReq {
    const r = new FuseReq(this, ++this.#unique, opcode, ino, index);
    r.times.createdNs = this.mm.env.nowNs;
    r.creator = this.mm.env.current;
    return r;
  }

  /** queue_request: make a request pending and wake one server thread. */
  queueRequest(req: FuseReq): void {
    req.state = "PENDING";
    req.times.queuedNs = this.mm.env.nowNs;
    this.pending.push(req);
    this.mm.env.emit("fuse_request_send", req.describe());
    this.waitq.wakeUp(1);
  }

  /**
   * fuse_request_send_background_locked / fuse_request_queue_background: account a background
   * request and move background requests to pending while fewer than max_background are active.
   */
  sendBackground(req: FuseReq): void {
    req.background = true;
    this.numBackground++;
    this.bgQueue.push(req);
    this.#flushBgQueue();
  }

  /** fuse_simple_request for a synchronous request: queue it and wait for the reply. */
  *sendSync(req: FuseReq): Process<number> {
    this.queueRequest(req);
    yield* req.done.wait(this.mm.env);
    return req.error;
  }

  /** The bdi is congested: num_background ≥ congestion_threshold (fc->blocked is num_background ≥ max_background). */
  get congested(): boolean {
    return this.numBackground >= this.config.congestionThreshold;
  }

  #flushBgQueue(): void {
    while (this.activeBackground < this.config.maxBackground && this.bgQueue.length > 0) {
      const req = this.bgQueue.shift()!;
      this.activeBackground++;
      this.queueRequest(req);
    }
  }

  /** fuse_request_end: the reply arrived. Runs `req.end` in the replying thread. */
  *requestEnd(req: FuseReq): Process<void> {
    req.state = "FINISHED";
    req.times.repliedNs = this.mm.env.nowNs;
    this.processing.delete(req);
    this.stats.replied[req.opcode] = (this.stats.replied[req.opcode] ?? 0) + 1;
    this.mm.env.emit("fuse_request_end", req.describe(), null, req.error);
    if (req.background) {
      this.numBackground--;
      this.activeBackground--;
      this.#flushBgQueue();
    }
    if (req.end) yield* req.end(req);
    req.done.completeAll();
  }

  *#serverThread(env: Engine, self: Task, nr: number): Process<void> {
    const rng = self.rng;
    const c = this.config;
    const allocates = c.allocPagesPerRequest > 0 && nr < (c.allocatingThreads ?? c.threads);
    for (;;) {
      // fuse_dev_do_read: sleep until a request is pending.
      yield* waitEvent(env, this.waitq, () => this.pending.length > 0, true);
      const req = this.pending.shift()!;
      req.state = "SENT";
      req.handledBy = self;
      this.processing.add(req);
      this.stats.sent[req.opcode] = (this.stats.sent[req.opcode] ?? 0) + 1;
      if (req.opcode === "WRITE") this.#copyWriteArgs(req);
      env.emit("fuse_request_read", req.describe(), null, self.name);
      const latency = sampleLatency(rng, c.latency);
      if (latency === Infinity) {
        yield env.hang(`server ${self} never replies to ${req.describe()}`);
      }
      if (latency > 0) yield env.sleep(latency);
      // Storing the data (e.g. a write into the server's own backing file) allocates memory.
      const allocated: number[] = [];
      if (allocates) {
        for (let i = 0; i < c.allocPagesPerRequest; i++) {
          if (c.memcg !== "none" && !(yield* this.#memcgCharge(c.memcg))) continue;
          const pfn: number = yield* folioAllocGfp(this.mm, 0, GFP_KERNEL);
          if (pfn >= 0) allocated.push(pfn);
        }
      }
      const handler = this.handlers.get(req.opcode);
      if (handler) yield* handler(req, self);
      else if (req.opcode === "WRITE") this.#applyWrite(req);
      for (const pfn of allocated) folioPut(this.mm, pfn);
      // fuse_dev_do_write: the reply.
      yield* this.requestEnd(req);
    }
  }

  /**
   * mem_cgroup_charge() → try_charge_memcg() (mm/memcontrol.c) for one page of a cgroup at its
   * limit: reclaim (try_to_free_mem_cgroup_pages) and retry while reclaim makes no progress, at
   * most MAX_RECLAIM_RETRIES more times. Returns whether the charge succeeded.
   * Divergence: the memcg OOM path is left out — a charge that still fails just fails.
   */
  *#memcgCharge(memcg: "v1" | "v2"): Process<boolean> {
    const env = this.mm.env;
    env.emit("mem_cgroup_charge", env.current?.name ?? null, null, memcg);
    for (let retries = MAX_RECLAIM_RETRIES;; retries--) {
      const n: number = yield* tryToFreeMemCgroupPages(this.mm, 1, GFP_KERNEL, {
        v1: memcg === "v1",
      });
      if (n > 0) return true;
      if (retries === 0) break;
    }
    env.emit("mem_cgroup_oom", env.current?.name ?? null, null, memcg);
    return false;
  }

  /**
   * fuse_copy_args for a WRITE in fuse_dev_do_read: the server gets the contents of the
   * request's pages now — its temp pages (2013 design), else the page-cache folios (v6.16).
   */
  #copyWriteArgs(req: FuseReq): void {
    const src = req.tempPages.length > 0 ? req.tempPages : req.folios;
    const data = this.mm.mem.data;
    for (let i = 0; i < src.length && i < req.tags.length; i++) req.tags[i] = data[src[i]!]!;
  }

  #applyWrite(req: FuseReq): void {
    const s = this.storageOf(req.ino);
    for (let i = 0; i < req.tags.length; i++) {
      s.set(req.index + i, req.tags[i]!);
      this.applied.push([req.ino, req.index + i, req.tags[i]!]);
    }
  }
}
