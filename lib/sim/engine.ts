/**
 * The discrete-event engine: virtual time in integer nanoseconds, processes as generator
 * functions that yield effects, an event heap ordered by `(timeNs, seq)`, and a pluggable
 * {@link Strategy} that picks which of the tasks ready at the same instant runs next.
 *
 * A task runs atomically from one `yield` to the next (a *step*). Interleavings therefore
 * happen only at yields: `env.point()` (a preemption point, like `cond_resched()`), `env.sleep()`,
 * and blocking waits. A model places points where the kernel could be interleaved and a claim
 * depends on it (e.g. between clearing PG_writeback and waking its waiters).
 *
 * The engine knows nothing about memory. Models see the running task (`env.current`) and its
 * context flags ({@link TaskFlag}: in direct reclaim, PF_MEMALLOC, atomic context, …); a task in
 * atomic context that blocks is reported like the kernel's might_sleep() splat.
 *
 * Runs are bounded (steps, virtual time) and say which bound ended them. Everything random flows
 * from the engine's seed (see {@link Rng}); there is no wall clock.
 *
 * @module
 */

import { EventHeap } from "./_heap.ts";
import { Rng } from "./rng.ts";
import { fifo } from "./fifo.ts";
import type { Strategy } from "./strategy.ts";
import { Trace } from "./trace.ts";
import { type Waiter, WaitQueue, type WaitTarget } from "./wait_queue.ts";
import { analyseWaits, type WaitReport } from "./deadlock.ts";

/**
 * Context flags of a task, as bits of `Task.flags`. Named after the kernel's `PF_*` flags and
 * preempt-count contexts where one exists; bits 16 and up are free for models.
 *
 * @example
 * ```ts
 * import { Engine, TaskFlag } from "@mmsim/mmsim";
 * const e = new Engine();
 * const t = e.spawn("kswapd0", function* () {}, { flags: TaskFlag.KSWAPD | TaskFlag.MEMALLOC });
 * if (!t.hasFlag(TaskFlag.KSWAPD)) throw new Error("flag lost");
 * ```
 */
export const TaskFlag = {
  /** PF_MEMALLOC: allocations may dip into reserves; migration gives up on a locked folio. */
  MEMALLOC: 1 << 0,
  /** PF_KSWAPD: this task is kswapd. */
  KSWAPD: 1 << 1,
  /** In direct reclaim (current_is_kswapd() false, inside try_to_free_pages). */
  DIRECT_RECLAIM: 1 << 2,
  /** Atomic context (spinlock held, irqs off, softirq): may not block. */
  ATOMIC: 1 << 3,
  /** A userspace server thread (FUSE daemon); models use it to spot self-waits. */
  USER_SERVER: 1 << 4,
  /** PF_LOCAL_THROTTLE / PF_LESS_THROTTLE: writeback on behalf of a filesystem server. */
  LOCAL_THROTTLE: 1 << 5,
} as const;

/**
 * A process body: a generator that yields {@link Effect}s and may return a value.
 *
 * @example
 * ```ts
 * import { Engine, type Env, type Process } from "@mmsim/mmsim";
 * // A helper process: write out `pages` pages at 100 µs each; callers run it with `yield*`.
 * function* writePages(env: Env, pages: number): Process<number> {
 *   for (let i = 0; i < pages; i++) yield env.sleep(100_000);
 *   return pages;
 * }
 * const e = new Engine();
 * const t = e.spawn("writer", function* (env) { return yield* writePages(env, 4); });
 * const r = e.run();
 * if (t.result !== 4 || r.nowNs !== 400_000) throw new Error("4 pages take 400 µs");
 * ```
 */
// deno-lint-ignore no-explicit-any
export type Process<R = unknown> = Generator<Effect, R, any>;

/**
 * A function that starts a process body for a task.
 *
 * @example
 * ```ts
 * import { Engine, type ProcessFn, TaskFlag } from "@mmsim/mmsim";
 * // A process body receives the environment and its own task (with its PF_* flags).
 * const body: ProcessFn<boolean> = function* (env, task) {
 *   yield env.point();
 *   return task.hasFlag(TaskFlag.KSWAPD);
 * };
 * const e = new Engine();
 * const kswapd = e.spawn("kswapd0", body, { flags: TaskFlag.KSWAPD });
 * const user = e.spawn("cat", body);
 * e.run();
 * if (kswapd.result !== true || user.result !== false) throw new Error("current_is_kswapd()");
 * ```
 */
export type ProcessFn<R = unknown> = (env: Env, task: Task) => Process<R>;

const enum EffectKind {
  Sleep = 0,
  Wait = 1,
  Choose = 2,
  Hang = 3,
}

/**
 * An effect yielded by a process. Create them with `env.sleep`, `env.point`, `env.choose`,
 * `env.hang` and the wait primitives; never construct them by hand.
 *
 * @example
 * ```ts
 * import { Engine } from "@mmsim/mmsim";
 * const e = new Engine();
 * e.spawn("p", function* (env) { const effect = env.sleep(5); yield effect; });
 * if (e.run().nowNs !== 5) throw new Error("slept 5 ns");
 * ```
 */
export class Effect {
  /** @internal */
  constructor(
    /** @internal */ readonly kind: number,
    /** @internal */ readonly num: number,
    /** @internal */ readonly ref: unknown,
  ) {}
}

const POINT = new Effect(EffectKind.Sleep, 0, null);

/**
 * The schedule string of a run under {@link fifo}: fifo makes no recorded choices, and a replay
 * of this string runs fifo again.
 *
 * @example
 * ```ts
 * import { Engine, FIFO_SCHEDULE, replay } from "@mmsim/mmsim";
 * const setup = (env: Engine) => {
 *   for (const n of ["a", "b"]) env.spawn(n, function* (env) { yield env.point(); });
 * };
 * const e = new Engine();
 * setup(e);
 * const r = e.run();
 * if (r.schedule !== FIFO_SCHEDULE || r.choicePoints === 0) throw new Error(r.schedule);
 * // Replaying the fifo schedule runs fifo again.
 * if (replay(setup, { seed: r.seed, schedule: r.schedule }).steps !== r.steps) {
 *   throw new Error("fifo replay differs");
 * }
 * ```
 */
export const FIFO_SCHEDULE = "fifo";

/**
 * Why a run ended.
 *
 * @example
 * ```ts
 * import { Engine, type EndReason } from "@mmsim/mmsim";
 * const e = new Engine();
 * // A flusher that wakes every 5 s (vm.dirty_writeback_centisecs = 500) never finishes by itself.
 * e.spawn("flusher", function* (env) { for (;;) yield env.sleep(5_000_000_000); });
 * const reason: EndReason = e.run({ maxTimeNs: 30_000_000_000 }).reason;
 * if (reason !== "time") throw new Error(`expected the time bound to end the run, got ${reason}`);
 * ```
 */
export type EndReason =
  /** Every non-daemon task finished. */
  | "done"
  /** Nothing can run, no timer is pending, and some non-daemon task is blocked. */
  | "stuck"
  /** The step bound was reached. */
  | "steps"
  /** The virtual-time bound was reached. */
  | "time"
  /** A violation was recorded and the run was set to stop on violations. */
  | "violation";

/**
 * A recorded violation of an invariant or assertion (the kernel's VM_BUG_ON, as an event).
 *
 * @example
 * ```ts
 * import { Engine, type Violation } from "@mmsim/mmsim";
 * const e = new Engine();
 * const locked = false;
 * e.spawn("unlocker", function* (env) {
 *   yield env.sleep(7);
 *   env.always("folio_unlock", locked, "VM_BUG_ON_FOLIO(!folio_test_locked(folio))");
 * });
 * const v: Violation | undefined = e.run().violations[0];
 * if (v?.name !== "folio_unlock" || v.tNs !== 7 || v.task !== "unlocker#0") {
 *   throw new Error(JSON.stringify(v));
 * }
 * ```
 */
export interface Violation {
  /** Name of the invariant or assertion. */
  name: string;
  /** What was wrong, naming the object and value. */
  message: string;
  /** Virtual time in ns. */
  tNs: number;
  /** Engine step at which it was detected. */
  step: number;
  /** Task that was running, if any. */
  task: string | null;
}

/**
 * Options of a single run.
 *
 * @example
 * ```ts
 * import { Engine, type RunOptions } from "@mmsim/mmsim";
 * const spin = new Engine();
 * spin.spawn("spinner", function* (env) { for (;;) yield env.point(); });
 * const bounded: RunOptions = { maxSteps: 1000 };
 * const r = spin.run(bounded);
 * if (r.reason !== "steps" || r.steps !== 1000) throw new Error(`${r.reason} after ${r.steps}`);
 * // stopOnViolation: false keeps running and records every violation.
 * const bug = new Engine();
 * bug.spawn("bug", function* (env) {
 *   env.always("refcount >= 0", false);
 *   yield env.point();
 *   env.always("refcount >= 0", false);
 * });
 * const all = bug.run({ stopOnViolation: false });
 * if (all.reason !== "done" || all.violations.length !== 2) throw new Error(all.reason);
 * ```
 */
export interface RunOptions {
  /** Step bound (default 10 million). */
  maxSteps?: number;
  /** Virtual-time bound in ns (default: unbounded). */
  maxTimeNs?: number;
  /** Stop at the first violation (default true). */
  stopOnViolation?: boolean;
}

/**
 * The result of {@link Engine.run}.
 *
 * @example
 * ```ts
 * import { decodeSchedule, Engine, random, type RunResult } from "@mmsim/mmsim";
 * const e = new Engine({ seed: 5, strategy: random(5) });
 * for (const n of ["a", "b", "c"]) {
 *   e.spawn(n, function* (env) { yield env.point(); yield env.point(); });
 * }
 * const r: RunResult = e.run();
 * if (r.reason !== "done" || r.seed !== 5 || r.waits !== null) throw new Error(r.reason);
 * // Every choice point of a non-fifo run is recorded in its schedule.
 * if (decodeSchedule(r.schedule).length !== r.choicePoints) throw new Error(r.schedule);
 * ```
 */
export interface RunResult {
  /** Why the run ended. */
  reason: EndReason;
  /** Virtual time at the end, in ns. */
  nowNs: number;
  /** Steps executed (generator resumptions). */
  steps: number;
  /** Scheduling choice points met (more than one task ready). */
  choicePoints: number;
  /** Choices where the previously running task was ready but another was chosen. */
  preemptions: number;
  /**
   * The schedule: every choice made, as a replayable string (see {@link encodeSchedule});
   * {@link FIFO_SCHEDULE} for a fifo run.
   */
  schedule: string;
  /** The seed of the engine. */
  seed: number;
  /** Violations recorded (at most one when stopping on violations). */
  violations: Violation[];
  /** `sometimes` labels and whether each was reached in this run. */
  reached: Map<string, boolean>;
  /** Blocked tasks, their wait-for graph, cycles and hung waits; null if nothing is blocked. */
  waits: WaitReport | null;
  /** The trace, when tracing was on. */
  trace: Trace | null;
}

/**
 * Options of an {@link Engine}.
 *
 * @example
 * ```ts
 * import { Engine, type EngineOptions, random } from "@mmsim/mmsim";
 * const opts: EngineOptions = { seed: 42, strategy: random(42), trace: true };
 * const e = new Engine(opts);
 * if (e.seed !== 42 || e.trace === null || e.strategy.name !== "random(42)") {
 *   throw new Error("engine options not applied");
 * }
 * ```
 */
export interface EngineOptions {
  /** Seed of every random stream (default 1). */
  seed?: number;
  /** Scheduling strategy for tasks ready at the same instant (default {@link fifo}). */
  strategy?: Strategy;
  /** Record a trace (default false). */
  trace?: boolean;
}

/**
 * A simulated task (a kernel thread, a user process, a server thread, a device thread…).
 *
 * @example
 * ```ts
 * import { Engine } from "@mmsim/mmsim";
 * const e = new Engine();
 * const t = e.spawn("worker", function* () { return 42; });
 * e.run();
 * if (t.result !== 42 || !t.done) throw new Error("task result");
 * ```
 */
export class Task {
  /** Small integer id, in spawn order. */
  readonly id: number;
  /** Name shown in traces and reports. */
  readonly name: string;
  /** Context flags ({@link TaskFlag} bits). */
  flags: number;
  /** Daemon tasks (flushers, kswapd) do not keep a run alive. */
  readonly daemon: boolean;
  /** Return value once done. */
  result: unknown = undefined;
  /** True once the process returned. */
  done = false;
  /** What the task is blocked on, if blocked. */
  blockedOn: Waiter | null = null;
  /** Wait queue woken when the task exits (join). */
  readonly exitQueue: WaitQueue;
  /** @internal */ gen: Process | null = null;
  /** @internal */ resume: unknown = undefined;
  /** @internal */ readonly engine: Engine;
  #rng: Rng | null = null;

  /** @internal */
  constructor(engine: Engine, id: number, name: string, flags: number, daemon: boolean) {
    this.engine = engine;
    this.id = id;
    this.name = name;
    this.flags = flags;
    this.daemon = daemon;
    this.exitQueue = new WaitQueue(`exit of ${name}`);
  }

  /** True if every bit of `flag` is set. */
  hasFlag(flag: number): boolean {
    return (this.flags & flag) === flag;
  }

  /** This task's own random stream (split from the engine's on first use). */
  get rng(): Rng {
    return this.#rng ??= this.engine.rng.split();
  }

  /** `name#id`. */
  toString(): string {
    return `${this.name}#${this.id}`;
  }
}

/**
 * The environment processes see: time, effects, spawning, checks and tracing. It is the
 * engine itself, seen through the methods a process needs.
 *
 * @example
 * ```ts
 * import { Engine, type Env, type Process } from "@mmsim/mmsim";
 * // A periodic flusher written against Env: it sees virtual time and yields effects.
 * function* flusher(env: Env, periodNs: number, untilNs: number): Process<number> {
 *   let rounds = 0;
 *   while (env.nowNs < untilNs) {
 *     yield env.sleep(periodNs);
 *     rounds++;
 *   }
 *   return rounds;
 * }
 * const e = new Engine();
 * const t = e.spawn("flush-8:0", (env) => flusher(env, 5_000_000_000, 15_000_000_000));
 * e.run();
 * if (t.result !== 3 || e.nowNs !== 15_000_000_000) throw new Error(`${t.result} rounds`);
 * ```
 */
export type Env = Engine;

type Invariant = { name: string; fn: () => string | undefined | null | false | void };

/**
 * The simulation engine.
 *
 * @example Two processes ping-pong through wait queues
 * ```ts
 * import { Engine, WaitQueue, waitEvent } from "@mmsim/mmsim";
 * const e = new Engine({ seed: 7 });
 * const q = new WaitQueue("ball");
 * let ball = 0;
 * e.spawn("ping", function* (env) {
 *   for (let i = 0; i < 3; i++) {
 *     yield* waitEvent(env, q, () => ball % 2 === 0);
 *     ball++;
 *     q.wakeUp();
 *     yield env.sleep(10);
 *   }
 * });
 * e.spawn("pong", function* (env) {
 *   for (let i = 0; i < 3; i++) {
 *     yield* waitEvent(env, q, () => ball % 2 === 1);
 *     ball++;
 *     q.wakeUp();
 *   }
 * });
 * const r = e.run();
 * if (r.reason !== "done" || ball !== 6) throw new Error(`ended ${r.reason} at ${ball}`);
 * ```
 */
export class Engine {
  /** Seed of every random stream. */
  readonly seed: number;
  /** The engine's root random stream; models split their own from it. */
  readonly rng: Rng;
  /** The trace, or null when tracing is off. */
  readonly trace: Trace | null;
  /** Current virtual time in ns. */
  nowNs = 0;
  /** The task running now (null between steps). */
  current: Task | null = null;
  /** Steps executed so far. */
  steps = 0;
  /** All tasks ever spawned, by id. */
  readonly tasks: Task[] = [];

  #strategy: Strategy;
  #isFifo: boolean;
  #heap = new EventHeap<Task>();
  #seq = 0;
  #ready: Task[] = [];
  #readyHead = 0;
  #last: Task | null = null;
  /** The last step ended at a preemption point with the task still ready (env.point()). */
  #lastStillReady = false;
  #liveNonDaemon = 0;
  #choices: number[] = [];
  #choicePoints = 0;
  #preemptions = 0;
  #invariants: Invariant[] = [];
  #violations: Violation[] = [];
  #reached = new Map<string, boolean>();
  #stopOnViolation = true;
  #stopRequested = false;
  #running = false;
  #onStep: ((e: Engine) => void)[] = [];
  /** True once an invariant or an onStep callback is registered (checked after every step). */
  #hasChecks = false;

  /** Create an engine. */
  constructor(options: EngineOptions = {}) {
    this.seed = options.seed ?? 1;
    this.rng = new Rng(this.seed);
    this.#strategy = options.strategy ?? fifo();
    this.#isFifo = this.#strategy.name === "fifo";
    this.trace = options.trace ? new Trace() : null;
    this.#strategy.begin?.(this);
  }

  /** The scheduling strategy. */
  get strategy(): Strategy {
    return this.#strategy;
  }

  // ---------------------------------------------------------------- effects

  /** Sleep for `ns` nanoseconds of virtual time (yield the returned effect). */
  sleep(ns: number): Effect {
    if (!(ns >= 0) || !Number.isFinite(ns)) {
      throw new RangeError(`sleep: ns must be a finite number ≥ 0, got ${ns}`);
    }
    return ns === 0 ? POINT : new Effect(EffectKind.Sleep, Math.round(ns), null);
  }

  /** A preemption point: other ready tasks may run before this one continues. */
  point(): Effect {
    return POINT;
  }

  /**
   * A nondeterministic choice in [0, n): explored exhaustively by `exhaustive`, drawn from the
   * strategy's stream otherwise. Yield it: `const i: number = yield env.choose(3)`.
   */
  choose(n: number): Effect {
    if (!(n >= 1) || !Number.isInteger(n)) {
      throw new RangeError(`choose: n must be an integer ≥ 1, got ${n}`);
    }
    return new Effect(EffectKind.Choose, n, null);
  }

  /**
   * Block forever: a wait nobody will satisfy (a server that never replies). Reported as a
   * hung wait, distinct from a deadlock cycle.
   */
  hang(reason: string): Effect {
    return new Effect(EffectKind.Hang, 0, reason);
  }

  /** @internal Block on an enqueued waiter (used by the wait primitives). */
  waitOn(w: Waiter): Effect {
    return new Effect(EffectKind.Wait, 0, w);
  }

  // ---------------------------------------------------------------- tasks

  /**
   * Spawn a task that starts at the current instant (or after `delayNs`).
   *
   * @param name Name shown in traces.
   * @param fn The process body.
   */
  spawn<R>(
    name: string,
    fn: ProcessFn<R>,
    opts: { flags?: number; daemon?: boolean; delayNs?: number } = {},
  ): Task {
    const t = new Task(this, this.tasks.length, name, opts.flags ?? 0, opts.daemon ?? false);
    this.tasks.push(t);
    t.gen = fn(this, t) as Process;
    if (!t.daemon) this.#liveNonDaemon++;
    this.#strategy.onSpawn?.(t);
    this.trace?.emit(this.nowNs, this.current?.id ?? -1, "sched_process_fork", t.name, null, null);
    if (opts.delayNs && opts.delayNs > 0) {
      this.#heap.push(this.nowNs + opts.delayNs, this.#seq++, t);
    } else this.#ready.push(t);
    return t;
  }

  /** Wait until `task` has finished; returns its result. Use with `yield*`. */
  *join(task: Task): Process<unknown> {
    while (!task.done) {
      const w = task.exitQueue.prepare(this.current!, false);
      if (task.done) {
        task.exitQueue.finish(w);
        break;
      }
      yield this.waitOn(w);
    }
    return task.result;
  }

  /** @internal Make a blocked task ready at the current instant (called by wakeups). */
  makeReady(t: Task, value: unknown): void {
    if (t.done) return;
    t.blockedOn = null;
    t.resume = value;
    this.#ready.push(t);
    this.trace?.emit(this.nowNs, this.current?.id ?? -1, "sched_wakeup", t.toString(), t.id, null);
  }

  // ---------------------------------------------------------------- checks

  /**
   * Register an invariant checked after every step; it returns a message when violated.
   *
   * @example
   * ```ts
   * import { Engine } from "@mmsim/mmsim";
   * const e = new Engine();
   * let refcount = 1;
   * e.invariant("refcount >= 0", () => refcount < 0 && `refcount is ${refcount}`);
   * e.spawn("buggy", function* (env) { refcount -= 2; yield env.point(); });
   * const r = e.run();
   * if (r.reason !== "violation") throw new Error("violation not caught");
   * ```
   */
  invariant(name: string, fn: () => string | undefined | null | false | void): void {
    this.#invariants.push({ name, fn });
    this.#hasChecks = true;
  }

  /** Call `fn` after every step (metrics sampling, state fingerprints). */
  onStep(fn: (e: Engine) => void): void {
    this.#onStep.push(fn);
    this.#hasChecks = true;
  }

  /** An "always" assertion: record a violation named `name` when `cond` is false. */
  always(name: string, cond: boolean, message?: string): void {
    if (!cond) this.violation(name, message ?? `assertion "${name}" failed`);
  }

  /**
   * A "sometimes" (reachability) label: records whether `cond` was ever true in this run. A
   * label mentioned with `cond` false is still known, so explorations can say Never.
   */
  sometimes(label: string, cond = true): void {
    if (cond) this.#reached.set(label, true);
    else if (!this.#reached.has(label)) this.#reached.set(label, false);
  }

  /** Record a violation (an invariant or assertion failed). */
  violation(name: string, message: string): void {
    this.#violations.push({
      name,
      message,
      tNs: this.nowNs,
      step: this.steps,
      task: this.current ? this.current.toString() : null,
    });
    this.trace?.emit(this.nowNs, this.current?.id ?? -1, "violation", name, null, message);
    if (this.#stopOnViolation) this.#stopRequested = true;
  }

  /** Violations recorded so far. */
  get violations(): readonly Violation[] {
    return this.#violations;
  }

  /** Ask the run loop to stop after the current step. */
  stop(): void {
    this.#stopRequested = true;
  }

  /** Emit a trace event if tracing is on (cheap no-op otherwise). */
  emit(kind: string, obj: string | number | null, before?: unknown, after?: unknown): void {
    this.trace?.emit(this.nowNs, this.current?.id ?? -1, kind, obj, before ?? null, after ?? null);
  }

  // ---------------------------------------------------------------- run loop

  /**
   * Run until every non-daemon task is done, nothing can run, or a bound is hit.
   */
  run(options: RunOptions = {}): RunResult {
    if (this.#running) throw new Error("Engine.run: already running (run is not reentrant)");
    this.#running = true;
    const maxSteps = options.maxSteps ?? 10_000_000;
    const maxTimeNs = options.maxTimeNs ?? Infinity;
    this.#stopOnViolation = options.stopOnViolation ?? true;
    let reason: EndReason;
    const ready = this.#ready;
    const heap = this.#heap;
    try {
      for (;;) {
        if (this.#stopRequested) {
          reason = "violation";
          break;
        }
        if (this.#liveNonDaemon === 0 && this.tasks.length > 0) {
          reason = "done";
          break;
        }
        if (this.steps >= maxSteps) {
          reason = "steps";
          break;
        }
        let n = ready.length - this.#readyHead;
        if (n === 0) {
          if (heap.size === 0) {
            reason = this.#liveNonDaemon > 0 ? "stuck" : "done";
            break;
          }
          const t = heap.peekTime();
          if (t > maxTimeNs) {
            this.nowNs = maxTimeNs;
            reason = "time";
            break;
          }
          this.nowNs = t;
          // The consumed entries before #readyHead stay until the compaction below: resetting
          // `ready.length = 0` here made V8 shrink and regrow the array on every instant.
          while (heap.size > 0 && heap.peekTime() === t) ready.push(heap.pop()!);
          n = ready.length - this.#readyHead;
        }
        let task: Task;
        if (n === 1 || this.#isFifo) {
          task = ready[this.#readyHead++]!;
          if (n > 1) {
            this.#choicePoints++;
            // Round robin: moving on from a task that is still ready is a preemption.
            if (this.#lastStillReady && task !== this.#last) this.#preemptions++;
          }
        } else {
          task = this.#pick(n);
        }
        if (this.#readyHead > 1024 && this.#readyHead * 2 > ready.length) {
          ready.splice(0, this.#readyHead);
          this.#readyHead = 0;
        }
        this.#step(task);
        if (this.#hasChecks) this.#check();
      }
    } finally {
      this.#running = false;
      this.current = null;
    }
    return {
      reason,
      nowNs: this.nowNs,
      steps: this.steps,
      choicePoints: this.#choicePoints,
      preemptions: this.#preemptions,
      schedule: this.#isFifo ? FIFO_SCHEDULE : encodeSchedule(this.#choices),
      seed: this.seed,
      violations: this.#violations.slice(),
      reached: new Map(this.#reached),
      waits: this.#waitReport(),
      trace: this.trace,
    };
  }

  #waitReport(): WaitReport | null {
    // Idle workers waiting for work (WaitQueue.idle) are not part of any wait-for chain.
    const blocked = this.blockedTasks().filter((t) => !t.blockedOn!.queue.idle);
    return blocked.length > 0 ? analyseWaits(blocked) : null;
  }

  /** Tasks currently blocked on a wait. */
  blockedTasks(): Task[] {
    return this.tasks.filter((t) => !t.done && t.blockedOn !== null);
  }

  #pick(n: number): Task {
    const ready = this.#ready;
    const head = this.#readyHead;
    // The previous task counts as "still running" only if its step ended at a preemption
    // point (env.point()); a task that slept or blocked and is ready again gave up the CPU, so
    // running another task first is no preemption (as in CHESS's preemption bounding).
    const last = this.#lastStillReady ? this.#last : null;
    let prevIdx = -1;
    if (last !== null) {
      for (let i = 0; i < n; i++) {
        if (ready[head + i] === last) {
          prevIdx = i;
          break;
        }
      }
    }
    // Canonical order: the previously running task first (continuing it is no preemption),
    // then the others in the order they became ready.
    const canon: Task[] = new Array(n);
    let k = 0;
    if (prevIdx >= 0) canon[k++] = ready[head + prevIdx]!;
    for (let i = 0; i < n; i++) if (i !== prevIdx) canon[k++] = ready[head + i]!;
    const c = this.#strategy.pickTask({
      engine: this,
      ready: canon,
      prevReady: prevIdx >= 0,
      fifoIndex: prevIdx > 0 ? 1 : 0,
    });
    if (!(c >= 0 && c < n) || !Number.isInteger(c)) {
      throw new Error(`strategy ${this.#strategy.name} picked ${c} of ${n} ready tasks`);
    }
    this.#choicePoints++;
    this.#choices.push(c);
    if (prevIdx >= 0 && c !== 0) this.#preemptions++;
    let actual: number;
    if (prevIdx < 0) actual = c;
    else if (c === 0) actual = prevIdx;
    else actual = c - 1 < prevIdx ? c - 1 : c;
    const task = ready[head + actual]!;
    if (actual === 0) this.#readyHead++;
    else ready.splice(head + actual, 1);
    return task;
  }

  #step(task: Task): void {
    this.current = task;
    this.#last = task;
    this.#lastStillReady = false;
    this.steps++;
    this.#strategy.onStep?.(task, this.steps);
    const gen = task.gen!;
    let value = task.resume;
    task.resume = undefined;
    for (;;) {
      let r: IteratorResult<Effect, unknown>;
      try {
        r = gen.next(value);
      } catch (e) {
        this.current = null;
        const err = new Error(
          `task ${task} threw at t=${this.nowNs} ns, step ${this.steps} ` +
            `(seed ${this.seed}, schedule "${encodeSchedule(this.#choices)}"): ` +
            `${e instanceof Error ? e.message : String(e)}`,
          { cause: e },
        );
        throw err;
      }
      if (r.done) {
        task.done = true;
        task.result = r.value;
        task.gen = null;
        if (!task.daemon) this.#liveNonDaemon--;
        this.trace?.emit(this.nowNs, task.id, "sched_process_exit", task.name, null, null);
        task.exitQueue.wakeUp(0);
        break;
      }
      const eff = r.value;
      const kind = eff.kind;
      if (kind === EffectKind.Sleep) {
        const ns = eff.num;
        if (ns === 0) {
          this.#ready.push(task);
          this.#lastStillReady = true;
        } else {
          this.#mightSleep(task, "sleep");
          this.#heap.push(this.nowNs + ns, this.#seq++, task);
        }
        break;
      } else if (kind === EffectKind.Wait) {
        const w = eff.ref as Waiter;
        if (w.woken) {
          // Woken within the same step (e.g. woke itself): continue at once.
          value = w.value;
          continue;
        }
        this.#mightSleep(task, w.queue.name);
        task.blockedOn = w;
        this.trace?.emit(this.nowNs, task.id, "sched_blocked", describeWait(w), null, null);
        break;
      } else if (kind === EffectKind.Choose) {
        const n = eff.num;
        let v = 0;
        if (n > 1) {
          v = this.#isFifo ? 0 : this.#strategy.pickValue(n, this);
          if (!this.#isFifo) this.#choices.push(v);
          this.#choicePoints++;
        }
        value = v;
        continue;
      } else if (kind === EffectKind.Hang) {
        const reason = eff.ref as string;
        const q = new WaitQueue(reason);
        q.hung = true;
        const w = q.prepare(task, false);
        task.blockedOn = w;
        this.trace?.emit(this.nowNs, task.id, "sched_blocked", reason, null, "hung");
        break;
      } else {
        throw new Error(`task ${task} yielded something that is not an effect: ${String(eff)}`);
      }
    }
    this.current = null;
  }

  #mightSleep(task: Task, what: string): void {
    if ((task.flags & TaskFlag.ATOMIC) !== 0) {
      this.current = task;
      this.violation(
        "might_sleep",
        `BUG: sleeping function called from invalid context: ${task} blocks on ${what}`,
      );
    }
  }

  #check(): void {
    for (const inv of this.#invariants) {
      const msg = inv.fn();
      if (msg) this.violation(inv.name, msg);
    }
    for (const fn of this.#onStep) fn(this);
  }
}

function describeWait(w: Waiter): string {
  const t: WaitTarget = w.queue.target(w);
  return t.describe();
}

/**
 * Encode a list of choices as a compact schedule string: choices separated by ".", a run of
 * `n` equal choices `c` written `c*n`.
 *
 * @example
 * ```ts
 * import { encodeSchedule, decodeSchedule } from "@mmsim/mmsim";
 * const s = encodeSchedule([0, 0, 0, 1, 2]);
 * if (s !== "0*3.1.2") throw new Error(s);
 * if (decodeSchedule(s).join() !== "0,0,0,1,2") throw new Error("round trip");
 * ```
 */
export function encodeSchedule(choices: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < choices.length;) {
    const c = choices[i]!;
    let j = i + 1;
    while (j < choices.length && choices[j] === c) j++;
    const run = j - i;
    parts.push(run > 2 ? `${c}*${run}` : run === 2 ? `${c}.${c}` : `${c}`);
    i = j;
  }
  return parts.join(".");
}

/**
 * Decode a schedule string made by {@link encodeSchedule}.
 *
 * @example
 * ```ts
 * import { decodeSchedule } from "@mmsim/mmsim";
 * if (decodeSchedule("1.0*3.2").join() !== "1,0,0,0,2") throw new Error("runs expand");
 * if (decodeSchedule("").length !== 0) throw new Error("an empty schedule has no choices");
 * let rejected = false;
 * try {
 *   decodeSchedule("1.x");
 * } catch (e) {
 *   rejected = e instanceof SyntaxError;
 * }
 * if (!rejected) throw new Error("a bad token must throw");
 * ```
 */
export function decodeSchedule(schedule: string): number[] {
  if (schedule.trim() === "") return [];
  const out: number[] = [];
  for (const part of schedule.split(".")) {
    const m = /^(\d+)(?:\*(\d+))?$/.exec(part.trim());
    if (!m) throw new SyntaxError(`schedule: bad token "${part}" in "${schedule}"`);
    const c = Number(m[1]);
    const n = m[2] === undefined ? 1 : Number(m[2]);
    for (let i = 0; i < n; i++) out.push(c);
  }
  return out;
}
