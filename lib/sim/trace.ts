/**
 * Structured trace of a run: typed events named after kernel tracepoints where one exists
 * (`sched_process_fork`, `sched_wakeup`, `writeback_dirty_folio`, `mm_migrate_pages`, …),
 * each with the time, the running task, the object, and before/after state.
 *
 * The same configuration and seed give a byte-identical trace ({@link Trace.toJsonl}), and
 * {@link selfCheck} runs a scenario twice to report any nondeterminism.
 *
 * @module
 */

/**
 * One trace event.
 *
 * @example
 * ```ts
 * import { Engine, type TraceEvent } from "@mmsim/mmsim";
 * const e = new Engine({ trace: true });
 * e.spawn("flusher", function* (env) {
 *   yield env.sleep(10);
 *   env.emit("writeback_start", "bdi 8:0", null, "WB_SYNC_NONE");
 * });
 * e.run();
 * const ev: TraceEvent | undefined = e.trace!.ofKind("writeback_start")[0];
 * if (ev?.tNs !== 10 || e.trace!.taskName(ev.task) !== "flusher#0" || ev.after !== "WB_SYNC_NONE") {
 *   throw new Error(JSON.stringify(ev));
 * }
 * ```
 */
export interface TraceEvent {
  /** Sequence number within the trace. */
  i: number;
  /** Virtual time in ns. */
  tNs: number;
  /** Id of the task that emitted it, -1 for none. */
  task: number;
  /** Event kind (a kernel tracepoint name where one exists). */
  kind: string;
  /** The object concerned (a folio, a request, a task name…). */
  obj: string | number | null;
  /** State before, if relevant. */
  before: unknown;
  /** State after, or a message. */
  after: unknown;
}

/**
 * A trace recorder.
 *
 * @example
 * ```ts
 * import { Engine } from "@mmsim/mmsim";
 * const e = new Engine({ trace: true });
 * e.spawn("writer", function* (env) {
 *   env.emit("writeback_dirty_folio", "pfn 3", "clean", "dirty");
 *   yield env.sleep(5);
 * });
 * e.run();
 * const kinds = e.trace!.kinds();
 * if (!kinds.includes("writeback_dirty_folio")) throw new Error(kinds.join());
 * ```
 */
export class Trace {
  /** The events, in order. */
  readonly events: TraceEvent[] = [];
  /** Task names by id, filled by the engine. */
  readonly taskNames: string[] = [];

  /** Append an event. */
  emit(
    tNs: number,
    task: number,
    kind: string,
    obj: string | number | null,
    before: unknown,
    after: unknown,
  ): void {
    if (kind === "sched_process_fork" && typeof obj === "string") this.taskNames.push(obj);
    this.events.push({ i: this.events.length, tNs, task, kind, obj, before, after });
  }

  /** The kinds of all events, in order (for timeline assertions). */
  kinds(filter?: (e: TraceEvent) => boolean): string[] {
    return (filter ? this.events.filter(filter) : this.events).map((e) => e.kind);
  }

  /** Events of one kind. */
  ofKind(kind: string): TraceEvent[] {
    return this.events.filter((e) => e.kind === kind);
  }

  /** Name of a task id. */
  taskName(id: number): string {
    return id < 0 ? "-" : `${this.taskNames[id] ?? "task"}#${id}`;
  }

  /** The trace as JSON lines (one event per line); identical runs give identical text. */
  toJsonl(): string {
    return this.events.map((e) => JSON.stringify({ ...e, task: this.taskName(e.task) })).join(
      "\n",
    );
  }

  /** A readable rendering: `t=… task kind obj before→after`, one event per line. */
  toText(limit = Infinity): string {
    const out: string[] = [];
    for (const e of this.events) {
      if (out.length >= limit) {
        out.push(`… ${this.events.length - limit} more`);
        break;
      }
      const ba = e.before !== null || e.after !== null ? ` ${fmt(e.before)}→${fmt(e.after)}` : "";
      out.push(`t=${e.tNs} ${this.taskName(e.task)} ${e.kind} ${e.obj ?? ""}${ba}`);
    }
    return out.join("\n");
  }
}

function fmt(x: unknown): string {
  if (x === null || x === undefined) return "";
  return typeof x === "string" ? x : JSON.stringify(x);
}

/**
 * Run `makeTrace` twice and compare the traces; returns null when identical, else a
 * description of the first difference (nondeterminism: a Map iteration over object identity,
 * a wall-clock read, Math.random…).
 *
 * @example
 * ```ts
 * import { Engine, selfCheck } from "@mmsim/mmsim";
 * const diff = selfCheck(() => {
 *   const e = new Engine({ seed: 3, trace: true });
 *   e.spawn("p", function* (env) { yield env.sleep(e.rng.int(100)); env.emit("tick", 1); });
 *   e.run();
 *   return e.trace!;
 * });
 * if (diff !== null) throw new Error(diff);
 * ```
 */
export function selfCheck(makeTrace: () => Trace): string | null {
  const a = makeTrace().toJsonl().split("\n");
  const b = makeTrace().toJsonl().split("\n");
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      return `traces differ at event ${i}:\n  first:  ${a[i] ?? "(end)"}\n  second: ${
        b[i] ?? "(end)"
      }`;
    }
  }
  return null;
}
