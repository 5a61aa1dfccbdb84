/**
 * Thread 001, claim C1.3: waiting for FUSE writeback where reclaim can reach it deadlocks a
 * FUSE server that allocates memory while handling a WRITE.
 *
 * The workload, the same for every design: page B of a FUSE file is written (write(2)) and
 * pinned by a direct-I/O read into it; the flusher writes it back (WRITE #1 goes to the
 * server); the DIO completion re-dirties B with new data (`set_page_dirty_lock`, no
 * `->page_mkwrite`) and write(2) dirties page A; then fsync(2) writes both back with
 * WB_SYNC_ALL and waits. Every server thread that allocates charges a memory cgroup that sits
 * at its limit (`memcg`: legacy v1 by default), so each allocation first runs
 * `try_to_free_mem_cgroup_pages`, whose shrink_folio_list waits on PG_writeback of a folio it
 * has already marked PG_reclaim ("case 3") unless the mapping carries
 * AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM and the kernel honours it (0c4f8ed498ce, v6.16).
 *
 * Which waits exist depends on the design (fuse.ts):
 * - `wait` (the Aug 2013 proposal): fsync's writepages finds B's WRITE #1 in flight and waits
 *   for it in `fuse_writepages_fill` — with PG_writeback of A already set for the request it
 *   has not sent yet. A server thread in reclaim that meets A waits on the fsync task, which
 *   waits on WRITE #1.
 * - `chained` (8b284dc47291, v3.13–v6.15): no waiting; temp pages end PG_writeback before the
 *   request reaches the server, so reclaim never waits on the server.
 * - `no-temp` (0c58a97f919c, v6.16): PG_writeback is held until the reply, so a server thread's
 *   reclaim can wait on a folio of a request — even the one the thread itself is handling —
 *   unless reclaim honours the mapping's AS flag.
 *
 * The exploration (PCT by default — probabilistic concurrency testing, Burckhardt et al. 2010,
 * depth 3; random or bounded exhaustive on request) reports a deadlock when
 * a run ends with a wait-for cycle (drawn with `waitForFigure` and {@link waitReportOf}).
 * {@link fuseReclaimDeadlockMatrix} runs the matrix {reclaim
 * can wait on the server / cannot} × {1 thread, N threads of which one allocates, N threads
 * all allocating}; {@link c13DeadlockSearch} is the one search the benchmark times.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import * as Plot from "npm:@observablehq/plot@^0.6";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import type { Engine } from "../sim/engine.ts";
import {
  explore,
  type ExploreResult,
  pctSearch,
  randomSearch,
  type ScenarioHooks,
  type Setup,
} from "../sim/explore.ts";
import { exhaustive, type Search } from "../sim/exhaustive.ts";
import { filemapGetEntry, newContentTag } from "../mm/address_space.ts";
import { folioGet, folioPut } from "../mm/folio.ts";
import { Mm } from "../mm/mm.ts";
import {
  filemapFdatawrite,
  filemapWriteAndWaitRange,
  setPageDirtyLock,
  WBC_END_MAX,
} from "../mm/writeback.ts";
import { FuseMount, type FuseWritebackDesign, fuseWriteIter } from "../fs/fuse.ts";
import { fuseSyncWrites } from "../fs/fuse_writeback.ts";
import { type Figure, plot } from "../plot/display.ts";
import type { WaitReport } from "../sim/deadlock.ts";

/**
 * Configuration of the reclaim-deadlock scenario ({@link fuseReclaimDeadlockSetup}).
 *
 * @example
 * ```ts
 * import { FuseReclaimDeadlockConfig } from "@mmsim/mmsim";
 * const c = FuseReclaimDeadlockConfig.parse({ design: "wait" });
 * if (c.serverThreads !== 1 || c.memcg !== "v1") throw new Error("defaults");
 * const bad = FuseReclaimDeadlockConfig.safeParse({ serverThreads: 0 });
 * if (bad.success || bad.error.issues[0]!.path[0] !== "serverThreads") throw new Error("names the field");
 * ```
 */
export interface FuseReclaimDeadlockConfig {
  /** FUSE writeback design. */
  design: FuseWritebackDesign;
  /** Kernel version; default "3.11" for temp-page designs, "6.16" for `no-temp`. */
  version?: string;
  /**
   * Does reclaim honour AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM (era switch
   * `reclaimSkipsMayDeadlock`, 0c4f8ed498ce)? Default: what `version` does.
   */
  reclaimHonoursFlag?: boolean;
  /** Server threads, default 1. */
  serverThreads: number;
  /** Threads 0 … k−1 allocate while handling a request (default: all). */
  allocatingThreads?: number;
  /** The server's memory cgroup, at its limit: legacy `v1` (default), `v2`, or `none`. */
  memcg: "v1" | "v2" | "none";
  /** Server time per request, ns (fixed), default 1000. */
  serverLatencyNs: number;
}

/**
 * Input of {@link FuseReclaimDeadlockConfig}: every field optional.
 *
 * @example
 * ```ts
 * import type { FuseReclaimDeadlockConfigInput } from "@mmsim/mmsim";
 * const c: FuseReclaimDeadlockConfigInput = { design: "no-temp", serverThreads: 4 };
 * if (c.serverThreads !== 4) throw new Error();
 * ```
 */
export type FuseReclaimDeadlockConfigInput = Partial<FuseReclaimDeadlockConfig>;

const deadlockSchema = z.object({
  design: z.enum(["no-check", "wait", "chained", "no-temp"]).default("wait"),
  version: z.string().regex(/^\d+\.\d+$/, "version must look like 6.12").optional(),
  reclaimHonoursFlag: z.boolean().optional(),
  serverThreads: z.number().int().min(1).max(64).default(1),
  allocatingThreads: z.number().int().min(0).optional(),
  memcg: z.enum(["v1", "v2", "none"]).default("v1"),
  serverLatencyNs: z.number().int().min(0).default(1000),
});
const _deadlockTypes: Same<z.output<typeof deadlockSchema>, FuseReclaimDeadlockConfig> = true;
void _deadlockTypes;

/**
 * The {@link FuseReclaimDeadlockConfig} schema.
 *
 * @example
 * ```ts
 * import { FuseReclaimDeadlockConfig } from "@mmsim/mmsim";
 * if (FuseReclaimDeadlockConfig.parse({}).design !== "wait") throw new Error("default design");
 * ```
 */
export const FuseReclaimDeadlockConfig: ConfigSchema<
  FuseReclaimDeadlockConfig,
  FuseReclaimDeadlockConfigInput
> = defineConfig("FuseReclaimDeadlockConfig", deadlockSchema);

const A = 0, B = 1;

/**
 * Exploration label: a server thread's reclaim waits on a page of the request it handles.
 *
 * @example
 * ```ts
 * import { c13DeadlockSearch, C13_SELF_WAIT } from "@mmsim/mmsim";
 * const r = c13DeadlockSearch({ executions: 3, scenario: { design: "no-temp", reclaimHonoursFlag: false } });
 * if (r.counts[C13_SELF_WAIT] === undefined) throw new Error("label recorded");
 * ```
 */
export const C13_SELF_WAIT = "cycle: server waits on its own request";
/**
 * Exploration label: the cycle runs through the fsync task's writeback wait.
 *
 * @example
 * ```ts
 * import { c13DeadlockSearch, C13_VIA_FSYNC } from "@mmsim/mmsim";
 * if (c13DeadlockSearch({ executions: 3 }).counts[C13_VIA_FSYNC] !== 3) throw new Error("2013 cycle");
 * ```
 */
export const C13_VIA_FSYNC = "cycle: through fsync's writeback";

/**
 * The scenario as an exploration setup (see the module doc). Each execution builds its own
 * world; the hooks give a state fingerprint (flags of A and B, request states, what each task
 * waits on) for counting distinct states.
 *
 * @example
 * ```ts
 * import { explore, randomSearch, fuseReclaimDeadlockSetup } from "@mmsim/mmsim";
 * const r = explore(fuseReclaimDeadlockSetup({ design: "no-temp", reclaimHonoursFlag: false }),
 *   { search: randomSearch({ executions: 5, seed: 1 }) });
 * if (r.verdicts.deadlock === "Never") throw new Error("a single allocating thread deadlocks");
 * ```
 */
export function fuseReclaimDeadlockSetup(config: FuseReclaimDeadlockConfigInput = {}): Setup {
  const c = FuseReclaimDeadlockConfig.parse(config);
  const version = c.version ?? (c.design === "no-temp" ? "6.16" : "3.11");
  const era = c.reclaimHonoursFlag === undefined
    ? {}
    : { reclaimSkipsMayDeadlock: c.reclaimHonoursFlag };
  return (env: Engine): ScenarioHooks => {
    const mm = new Mm(env, { memory: { nrFrames: 512 }, version, era });
    const fm = new FuseMount(mm, {
      writeback: c.design,
      server: {
        threads: c.serverThreads,
        allocatingThreads: c.allocatingThreads,
        latency: { kind: "fixed", ns: c.serverLatencyNs },
        allocPagesPerRequest: 1,
        memcg: c.memcg,
      },
    });
    const fi = fm.createInode();
    const mapping = fi.mapping;
    env.spawn("app", function* () {
      yield* fuseWriteIter(mm, fi, B, newContentTag(mm));
      const b = filemapGetEntry(mapping, B);
      folioGet(mm, b); // the DIO read's get_user_pages reference
      // The flusher: WB_SYNC_NONE writeback sends WRITE #1 for B.
      yield* filemapFdatawrite(mm, mapping, "WB_SYNC_NONE");
      // The DIO completes into B (new data) and bio_dirty_fn re-dirties it; write(2) dirties A.
      mm.mem.data[b] = newContentTag(mm);
      mapping.latest.set(B, mm.mem.data[b]!);
      yield* setPageDirtyLock(mm, b);
      yield* fuseWriteIter(mm, fi, A, newContentTag(mm));
      // fsync(2): WB_SYNC_ALL writeback and wait, then wait for the replies.
      yield* filemapWriteAndWaitRange(mm, mapping, 0, WBC_END_MAX);
      yield* fuseSyncWrites(mm, fi);
      folioPut(mm, b);
    });
    const mem = mm.mem;
    return {
      outcome: (run) => {
        const cycles = run.waits?.cycles ?? [];
        return {
          [C13_SELF_WAIT]: cycles.some(isSelfWait),
          [C13_VIA_FSYNC]: cycles.some(isViaFsync),
        };
      },
      fingerprint: () => {
        const a = filemapGetEntry(mapping, A), b = filemapGetEntry(mapping, B);
        let fp = `${a >= 0 ? mem.flags[a] : -1}.${b >= 0 ? mem.flags[b] : -1}.${fi.writectr}`;
        for (const r of fi.writepages) fp += `|${r.unique}${r.state}`;
        for (const t of env.tasks) {
          fp += t.done ? ";d" : t.blockedOn ? `;${t.blockedOn.queue.name}` : ";r";
        }
        return fp;
      },
    };
  };
}

/**
 * The search of a C1.3 exploration.
 *
 * @example
 * ```ts
 * import { c13DeadlockSearch, type C13SearchKind } from "@mmsim/mmsim";
 * const kind: C13SearchKind = "pct";
 * if (c13DeadlockSearch({ search: kind, executions: 4 }).search !== "pct(d=3)×4") throw new Error();
 * ```
 */
export type C13SearchKind = "random" | "pct" | "exhaustive";

/**
 * Options of {@link c13DeadlockSearch}.
 *
 * @example
 * ```ts
 * import type { C13DeadlockSearchOptions } from "@mmsim/mmsim";
 * const o: C13DeadlockSearchOptions = { search: "exhaustive", executions: 1000, states: true };
 * if (o.search !== "exhaustive") throw new Error();
 * ```
 */
export interface C13DeadlockSearchOptions {
  /** The scenario (default: the 2013 wait variant, one allocating thread, memcg v1). */
  scenario?: FuseReclaimDeadlockConfigInput;
  /** Search kind (default pct: PCT with depth 3, `executions` runs). */
  search?: C13SearchKind;
  /** Executions (default 200). */
  executions?: number;
  /** Seed (default 1). */
  seed?: number;
  /** Count distinct states (fingerprints) — costs time; default true. */
  states?: boolean;
  /** Stop at the first deadlock (default false). */
  stopAtFirstFailure?: boolean;
  /**
   * Which executions count as failures (the counterexample is the first of them): any deadlock
   * (default), only a server thread waiting on its own request, or only cycles through fsync.
   */
  want?: "deadlock" | "self-wait" | "via-fsync";
}

function cycleTasks(c: readonly string[]): string[] {
  return [...new Set(c.filter((n) => /#\d+$/.test(n)))];
}

function isSelfWait(c: readonly string[]): boolean {
  const t = cycleTasks(c);
  return t.length === 1 && t[0]!.startsWith("fuse-server");
}

function isViaFsync(c: readonly string[]): boolean {
  return cycleTasks(c).some((t) => t.startsWith("app#"));
}

function makeSearch(kind: C13SearchKind, executions: number, seed: number): Search {
  if (kind === "pct") return pctSearch({ executions, depth: 3, maxSteps: 400, seed });
  if (kind === "exhaustive") return exhaustive({ maxPreemptions: 2, maxExecutions: executions });
  return randomSearch({ executions, seed });
}

/**
 * The C1.3 deadlock search: explore one scenario and return the engine's result (verdicts,
 * executions, distinct states, the shrunk counterexample with its trace). This is what the
 * benchmark times (executions/s, distinct states/s).
 *
 * @example
 * ```ts
 * import { c13DeadlockSearch } from "@mmsim/mmsim";
 * const r = c13DeadlockSearch({ executions: 20 });
 * if (r.executions !== 20 || r.distinctStates === null) throw new Error("states counted");
 * if (r.verdicts.deadlock === "Never") throw new Error("the 2013 wait variant deadlocks");
 * ```
 */
export function c13DeadlockSearch(o: C13DeadlockSearchOptions = {}): ExploreResult {
  const setup = fuseReclaimDeadlockSetup(o.scenario ?? { design: "wait" });
  const s: Setup = o.states === false
    ? (env) => {
      const h = setup(env);
      return h ? { ...h, fingerprint: undefined } : h;
    }
    : setup;
  const want = o.want ?? "deadlock";
  const pick = want === "self-wait" ? isSelfWait : want === "via-fsync" ? isViaFsync : null;
  return explore(s, {
    search: makeSearch(o.search ?? "pct", o.executions ?? 200, o.seed ?? 1),
    seed: o.seed ?? 1,
    maxSteps: 200_000,
    stopAtFirstFailure: o.stopAtFirstFailure,
    fails: (run) => run.waits?.kind === "cycle" && (pick === null || run.waits.cycles.some(pick)),
  });
}

/**
 * The part of a wait-for report worth drawing: the cycles and hung chains, and the blocked tasks
 * that are on them or wait for (or on a holder of) one of their nodes — idle daemons and server
 * threads waiting for work are dropped. `keep` selects tasks instead. For a readable
 * `waitForFigure`.
 *
 * @example
 * ```ts
 * import { c13DeadlockSearch, waitReportOf } from "@mmsim/mmsim";
 * const w = c13DeadlockSearch({ executions: 2 }).counterexample!.waits!;
 * const part = waitReportOf(w);
 * if (part.cycles.length !== 1 || part.blocked.some((b) => b.task.startsWith("sda"))) throw new Error();
 * ```
 */
export function waitReportOf(report: WaitReport, keep?: (task: string) => boolean): WaitReport {
  const onChain = new Set([...report.cycles.flat(), ...report.hung.flat()]);
  const wanted = keep ??
    ((t: string) => {
      const b = report.blocked.find((x) => x.task === t);
      return onChain.has(t) ||
        (b !== undefined && (onChain.has(b.waitsFor) || b.heldBy.some((h) => onChain.has(h))));
    });
  const blocked = report.blocked.filter((b) => wanted(b.task));
  const cycles = report.cycles.filter((c) => c.some((n) => /#\d+$/.test(n) && wanted(n)));
  const hung = report.hung.filter((h) => wanted(h[0]!));
  return { ...report, blocked, cycles, hung };
}

/**
 * A row of the C1.3 matrix: one kernel reality.
 *
 * @example
 * ```ts
 * import { C13_ROWS, type C13Row } from "@mmsim/mmsim";
 * const row: C13Row = C13_ROWS[0]!;
 * if (!row.reclaimWaits || row.scenario.design !== "wait") throw new Error();
 * ```
 */
export interface C13Row {
  /** Short id. */
  id: string;
  /** What it is, for the figure. */
  label: string;
  /** The kernel it corresponds to. */
  kernel: string;
  /** Can reclaim end up waiting for the server's reply? (what the claim's condition reads) */
  reclaimWaits: boolean;
  /** Scenario settings. */
  scenario: FuseReclaimDeadlockConfigInput;
}

/**
 * The matrix rows: two eras, each with reclaim able to wait on the server and not.
 *
 * @example
 * ```ts
 * import { C13_ROWS } from "@mmsim/mmsim";
 * if (C13_ROWS.map((r) => r.id).join() !== "2013-wait,2013-chained,2025-noflag,2025") throw new Error();
 * ```
 */
export const C13_ROWS: readonly C13Row[] = [
  {
    id: "2013-wait",
    label: "2013 proposal: wait in writepages",
    kernel: "v3.11 + the fuse_page_is_writeback wait Maxim proposed (never merged); memcg v1 " +
      "reclaim waits on PG_writeback (case 3)",
    reclaimWaits: true,
    scenario: { design: "wait", version: "3.11" },
  },
  {
    id: "2013-chained",
    label: "temp pages + chained requests",
    kernel: "8b284dc47291 (v3.13) … v6.15: PG_writeback ends before the server sees the WRITE",
    reclaimWaits: false,
    scenario: { design: "chained", version: "3.11" },
  },
  {
    id: "2025-noflag",
    label: "no temp pages, flag ignored",
    kernel: "0c58a97f919c without 0c4f8ed498ce (the early versions of the series; the blocker " +
      "Miklos named in 2013)",
    reclaimWaits: true,
    scenario: { design: "no-temp", version: "6.16", reclaimHonoursFlag: false },
  },
  {
    id: "2025",
    label: "no temp pages + AS flag (v6.16)",
    kernel: "v6.16: 0c58a97f919c + 0c4f8ed498ce, AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM → case 2",
    reclaimWaits: false,
    scenario: { design: "no-temp", version: "6.16" },
  },
];

/**
 * One cell of {@link fuseReclaimDeadlockMatrix}.
 *
 * @example
 * ```ts
 * import { fuseReclaimDeadlockMatrix, C13_ROWS, type C13Cell } from "@mmsim/mmsim";
 * const [cell]: C13Cell[] = fuseReclaimDeadlockMatrix({ executions: 4, rows: [C13_ROWS[0]!] });
 * if (cell!.verdict !== "Always" || cell!.predicted !== "cycle") throw new Error(JSON.stringify(cell));
 * ```
 */
export interface C13Cell {
  /** Row id. */
  row: string;
  /** Row label. */
  rowLabel: string;
  /** Column label. */
  column: string;
  /** Server threads. */
  serverThreads: number;
  /** Allocating threads. */
  allocatingThreads: number;
  /** Executions explored. */
  executions: number;
  /** The search covered every schedule within its bounds (exhaustive search only). */
  complete: boolean;
  /** Executions ending in a wait-for cycle. */
  deadlocks: number;
  /** Verdict of the `deadlock` label. */
  verdict: "Always" | "Sometimes" | "Never";
  /** What the claim predicts: a cycle iff reclaim waits and (1 thread or all allocating). */
  predicted: "cycle" | "no cycle";
  /** Whether the measurement agrees. */
  agrees: boolean;
  /** Executions whose cycle is a server thread waiting on its own request. */
  selfWaits: number;
  /** Executions whose cycle runs through the fsync task. */
  viaFsync: number;
  /** The first deadlock's wait-for cycle, as text ("" if none). */
  cycle: string;
}

/**
 * Options of {@link fuseReclaimDeadlockMatrix}.
 *
 * @example
 * ```ts
 * import type { C13MatrixOptions } from "@mmsim/mmsim";
 * const o: C13MatrixOptions = { threads: 2, executions: 50, search: "random" };
 * if (o.threads !== 2) throw new Error();
 * ```
 */
export interface C13MatrixOptions {
  /** N, the multi-threaded columns' thread count (default 4). */
  threads?: number;
  /** Executions per cell (default 200). */
  executions?: number;
  /** Seed (default 1). */
  seed?: number;
  /** Search (default pct: PCT with depth 3, `executions` runs per cell). */
  search?: C13SearchKind;
  /** Rows (default {@link C13_ROWS}). */
  rows?: readonly C13Row[];
}

/**
 * Plot C's data: explore every (row, column) cell and compare with the claim's condition.
 *
 * @example
 * ```ts
 * import { fuseReclaimDeadlockMatrix, C13_ROWS } from "@mmsim/mmsim";
 * const cells = fuseReclaimDeadlockMatrix({ executions: 10, rows: [C13_ROWS[3]!] });
 * if (cells.length !== 3 || cells.some((c) => c.deadlocks > 0)) throw new Error("v6.16 never waits");
 * ```
 */
export function fuseReclaimDeadlockMatrix(o: C13MatrixOptions = {}): C13Cell[] {
  const n = o.threads ?? 4;
  const columns = [
    { label: "1 thread", threads: 1, allocating: 1 },
    { label: `${n} threads, 1 allocating`, threads: n, allocating: 1 },
    { label: `${n} threads, all allocating`, threads: n, allocating: n },
  ];
  const cells: C13Cell[] = [];
  for (const row of o.rows ?? C13_ROWS) {
    for (const col of columns) {
      const r = c13DeadlockSearch({
        scenario: {
          ...row.scenario,
          serverThreads: col.threads,
          allocatingThreads: col.allocating,
        },
        search: o.search ?? "pct",
        executions: o.executions ?? 200,
        seed: o.seed,
        states: false,
      });
      const deadlocks = r.counts.deadlock ?? 0;
      const predicted = row.reclaimWaits && (col.threads === 1 || col.allocating === col.threads)
        ? "cycle"
        : "no cycle";
      const cycle = r.counterexample?.waits?.cycles[0]?.join(" → ") ?? "";
      cells.push({
        row: row.id,
        rowLabel: row.label,
        column: col.label,
        serverThreads: col.threads,
        allocatingThreads: col.allocating,
        executions: r.executions,
        complete: r.complete,
        deadlocks,
        verdict: r.verdicts.deadlock ?? "Never",
        predicted,
        agrees: (deadlocks > 0) === (predicted === "cycle"),
        selfWaits: r.counts[C13_SELF_WAIT] ?? 0,
        viaFsync: r.counts[C13_VIA_FSYNC] ?? 0,
        cycle,
      });
    }
  }
  return cells;
}

/**
 * Plot C: the deadlock matrix — per cell the verdict and the share of executions that ended in a
 * wait-for cycle ("all": the exhaustive search covered every schedule within its bounds); a cell
 * where the model disagrees with the claim's condition is outlined.
 *
 * @example
 * ```ts
 * import { fuseReclaimDeadlockFigure } from "@mmsim/mmsim";
 * const fig = fuseReclaimDeadlockFigure([{ row: "r", rowLabel: "row", column: "1 thread",
 *   serverThreads: 1, allocatingThreads: 1, executions: 4, complete: false, deadlocks: 2, verdict: "Sometimes",
 *   predicted: "cycle", agrees: true, selfWaits: 0, viaFsync: 2, cycle: "" }]);
 * if (!fig.svg.includes("<rect")) throw new Error("no cells");
 * ```
 */
export function fuseReclaimDeadlockFigure(cells: readonly C13Cell[]): Figure {
  const rows = [...new Set(cells.map((c) => c.rowLabel))];
  const cols = [...new Set(cells.map((c) => c.column))];
  const data = cells.map((c) => ({ ...c, rate: c.deadlocks / Math.max(1, c.executions) }));
  return plot({
    width: 760,
    height: 90 + 56 * rows.length,
    marginLeft: 250,
    padding: 0.06,
    x: { domain: cols, label: null, axis: "top" },
    y: { domain: rows, label: null },
    color: {
      type: "linear",
      domain: [0, 1],
      range: ["#f7f7f7", "#d62728"],
    },
    marks: [
      Plot.cell(data, { x: "column", y: "rowLabel", fill: "rate", inset: 2 }),
      Plot.cell(data.filter((d) => !d.agrees), {
        x: "column",
        y: "rowLabel",
        stroke: "#000",
        strokeWidth: 2.5,
        fill: "none",
        inset: 2,
      }),
      Plot.text(data, {
        x: "column",
        y: "rowLabel",
        fill: (d: { rate: number }) => (d.rate > 0.6 ? "white" : "black"),
        text: (d: C13Cell) =>
          `${d.verdict} (${d.deadlocks}/${d.executions}${
            d.complete ? ", all" : ""
          })\nclaim: ${d.predicted}`,
        fontSize: 11,
        lineHeight: 1.2,
      }),
    ],
  }, {
    title: "C1.3 — reclaim deadlock: exploration verdicts (Plot C; outlined = model ≠ claim)",
  });
}
