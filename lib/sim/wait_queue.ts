/**
 * Wait queues: the kernel's `wait_queue_head` with exclusive and non-exclusive waiters and
 * per-queue wake functions.
 *
 * Follows include/linux/wait.h and kernel/sched/wait.c (`prepare_to_wait`,
 * `prepare_to_wait_exclusive`, `finish_wait`, `__wake_up_common`, `autoremove_wake_function`),
 * Linux v6.12: non-exclusive waiters are added at the head, exclusive ones at the tail; a wake
 * walks from the head, calls each waiter's wake function and stops after `nrExclusive` exclusive
 * waiters were woken or when a wake function returns a negative value.
 *
 * Each queue can say what it waits for and who holds it ({@link WaitTarget}), so a run that
 * ends with blocked tasks can draw its wait-for graph.
 *
 * Left out: wake modes (TASK_INTERRUPTIBLE etc.: every wait here is uninterruptible), bookmarks.
 *
 * @module
 */

import type { Effect, Process, Task } from "./engine.ts";

/**
 * A node of the wait-for graph that is not a task: a lock, a bit of a folio, a request. It
 * names itself and says who holds it (tasks, or further targets such as "request #5").
 *
 * @example A request whose server is dead: the wait-for chain ends in a hung target
 * ```ts
 * import { Engine, WaitQueue, type WaitTarget } from "@mmsim/mmsim";
 * const server: WaitTarget = { describe: () => "fuse server (dead)", hung: true };
 * const q = new WaitQueue("request #5");
 * q.owners = () => [server];
 * const e = new Engine();
 * e.spawn("reader", function* (env, self) { yield env.waitOn(q.prepare(self, false)); });
 * const w = e.run().waits;
 * if (w?.kind !== "hung" || w.hung[0]?.at(-1) !== "fuse server (dead)") throw new Error(w?.text);
 * ```
 */
export interface WaitTarget {
  /** A short description ("PG_writeback of pfn 12", "mutex i_rwsem"). */
  describe(): string;
  /** Who holds it or is expected to release it; empty or absent when unknown. */
  holders?(): Array<Task | WaitTarget>;
  /** True for a wait that nothing will ever satisfy (a hung server). */
  hung?: boolean;
}

/**
 * One task waiting on a {@link WaitQueue} (a `wait_queue_entry`).
 *
 * @example
 * ```ts
 * import { Engine, WaitQueue, type Waiter } from "@mmsim/mmsim";
 * const e = new Engine();
 * const q = new WaitQueue("wq");
 * const waiters: Waiter[] = [];
 * const t = e.spawn("sleeper", function* (env, self) {
 *   const w = q.prepare(self, true); // prepare_to_wait_exclusive
 *   waiters.push(w);
 *   return yield env.waitOn(w);
 * });
 * e.spawn("waker", function* (env) { yield env.sleep(1); q.wakeUp(1, null, "hello"); });
 * e.run();
 * const w = waiters[0]!;
 * // autoremove_wake_function: woken and off the list; the task resumes with the wake's value.
 * if (!w.exclusive || !w.woken || w.queued || t.result !== "hello") throw new Error("wake");
 * ```
 */
export interface Waiter {
  /** The waiting task. */
  readonly task: Task;
  /** The queue it waits on. */
  readonly queue: WaitQueue;
  /** WQ_FLAG_EXCLUSIVE. */
  readonly exclusive: boolean;
  /** Key the queue's wake function matches (e.g. a folio and a bit). */
  key: unknown;
  /** Set once woken (WQ_FLAG_WOKEN). */
  woken: boolean;
  /** Value handed to the task when it resumes. */
  value: unknown;
  /** True while the waiter is on the queue's list. */
  queued: boolean;
}

/**
 * A wake function: return 1 when the waiter was woken, 0 to skip it, -1 to stop the walk
 * (as `wake_page_function` does for a lock hand-off it cannot make).
 *
 * @example Wake only the waiters whose key matches, as wake_page_function does
 * ```ts
 * import { Engine, WaitQueue, type WakeFunction } from "@mmsim/mmsim";
 * const byKey: WakeFunction = (w, key) => (w.key === key ? 1 : 0);
 * const q = new WaitQueue("hashed");
 * q.wakeFunction = byKey;
 * const e = new Engine();
 * const woken: string[] = [];
 * for (const [name, key] of [["a", 1], ["b", 2]] as const) {
 *   e.spawn(name, function* (env, self) {
 *     yield env.waitOn(q.prepare(self, false, key));
 *     woken.push(name);
 *   });
 * }
 * e.spawn("waker", function* (env) { yield env.sleep(1); q.wakeUp(0, 2); });
 * const r = e.run();
 * if (woken.join() !== "b" || q.waiters.length !== 1 || r.reason !== "stuck") throw new Error(`${woken}`);
 * ```
 */
export type WakeFunction = (w: Waiter, key: unknown) => number;

/**
 * A wait queue head.
 *
 * @example
 * ```ts
 * import { Engine, WaitQueue } from "@mmsim/mmsim";
 * const e = new Engine();
 * const q = new WaitQueue("event");
 * let woke = 0;
 * for (const name of ["a", "b"]) {
 *   e.spawn(name, function* (env, self) {
 *     const w = q.prepare(self, true); // exclusive
 *     yield env.waitOn(w);
 *     woke++;
 *   });
 * }
 * e.spawn("waker", function* (env) { yield env.sleep(1); q.wakeUp(1); });
 * const r = e.run();
 * if (woke !== 1 || r.reason !== "stuck") throw new Error("one exclusive waiter woken");
 * ```
 */
export class WaitQueue implements WaitTarget {
  /** Name used in traces and wait-for reports. */
  readonly name: string;
  /** Waiters in list order (head first). */
  readonly waiters: Waiter[] = [];
  /** Wake function (default: autoremove_wake_function). */
  wakeFunction: WakeFunction | null = null;
  /** Who holds what this queue waits for (for wait-for graphs). */
  owners: ((w: Waiter) => Array<Task | WaitTarget>) | null = null;
  /** Per-waiter description (default: the queue's name). */
  describeWaiter: ((w: Waiter) => string) | null = null;
  /** A queue nothing will ever wake (see `env.hang`). */
  hung = false;
  /**
   * Waiters here are idle workers waiting for work (a kernel thread's main loop, a server in
   * read(/dev/fuse)), not blocked on a resource: wait-for reports leave them out.
   */
  idle = false;

  /** Create a queue named `name`. */
  constructor(name: string) {
    this.name = name;
  }

  /** This queue as a wait-for node. */
  describe(): string {
    return this.name;
  }

  /** Holders of this queue's resource for a given waiter. */
  holders(): Array<Task | WaitTarget> {
    return [];
  }

  /** The wait-for node a waiter on this queue waits for. */
  target(w: Waiter): WaitTarget {
    const describe = this.describeWaiter ? this.describeWaiter(w) : this.name;
    const owners = this.owners;
    return {
      describe: () => describe,
      holders: () => (owners ? owners(w) : []),
      hung: this.hung,
    };
  }

  /** True if any task waits here (waitqueue_active). */
  get active(): boolean {
    return this.waiters.length > 0;
  }

  /**
   * prepare_to_wait / prepare_to_wait_exclusive: enqueue a waiter for `task`. The caller then
   * checks its condition and either yields `env.waitOn(w)` or calls {@link finish}.
   */
  prepare(task: Task, exclusive: boolean, key: unknown = null): Waiter {
    const w: Waiter = {
      task,
      queue: this,
      exclusive,
      key,
      woken: false,
      value: undefined,
      queued: true,
    };
    // Non-exclusive waiters go to the head (add_wait_queue), exclusive ones to the tail
    // (add_wait_queue_exclusive); push is the cheap case of both on an empty list.
    const ws = this.waiters;
    if (exclusive || ws.length === 0) ws.push(w);
    else ws.unshift(w);
    return w;
  }

  /** finish_wait: remove a waiter that is still queued. */
  finish(w: Waiter): void {
    if (!w.queued) return;
    const ws = this.waiters;
    const i = ws.indexOf(w);
    if (i === 0) ws.shift();
    else if (i > 0) ws.splice(i, 1);
    w.queued = false;
  }

  /**
   * __wake_up_common: walk from the head, waking non-exclusive waiters and up to `nrExclusive`
   * exclusive ones (0 = all). Returns the number of waiters woken.
   */
  wakeUp(nrExclusive = 1, key: unknown = null, value: unknown = undefined): number {
    const ws = this.waiters;
    if (ws.length === 0) return 0;
    let woken = 0;
    let left = nrExclusive;
    const fn = this.wakeFunction;
    for (let i = 0; i < ws.length;) {
      const w = ws[i]!;
      const ret = fn ? fn(w, key) : 1;
      if (ret < 0) break;
      if (ret === 0) {
        i++;
        continue;
      }
      // autoremove: off the list, then wake.
      if (i === 0) ws.shift();
      else ws.splice(i, 1);
      w.queued = false;
      woken++;
      wakeWaiter(w, value);
      if (w.exclusive && nrExclusive > 0 && --left === 0) break;
    }
    return woken;
  }
}

/**
 * Wake one waiter that was already removed from its queue.
 *
 * @example
 * ```ts
 * import { Engine, WaitQueue, wakeWaiter } from "@mmsim/mmsim";
 * const e = new Engine();
 * const q = new WaitQueue("completion");
 * const t = e.spawn("waiter", function* (env, self) { return yield env.waitOn(q.prepare(self, false)); });
 * e.spawn("completer", function* (env) {
 *   yield env.sleep(1);
 *   const w = q.waiters[0]!;
 *   q.finish(w); // off the list first, then wake
 *   wakeWaiter(w, 42);
 *   wakeWaiter(w, 43); // a second wake of the same waiter is ignored
 * });
 * e.run();
 * if (t.result !== 42) throw new Error(`resumed with ${t.result}`);
 * ```
 */
export function wakeWaiter(w: Waiter, value: unknown = undefined): void {
  if (w.woken) return;
  w.woken = true;
  w.value = value;
  const t = w.task;
  if (t.blockedOn === w) t.engine.makeReady(t, value);
}

/**
 * wait_event(): sleep on `q` until `cond()` is true, re-checking after every wake. Use with
 * `yield*`. Checking and sleeping happen in one step, so no wakeup is lost between them.
 *
 * @example
 * ```ts
 * import { Engine, WaitQueue, waitEvent } from "@mmsim/mmsim";
 * const e = new Engine();
 * const q = new WaitQueue("flag");
 * let flag = false;
 * e.spawn("waiter", function* (env) { yield* waitEvent(env, q, () => flag); });
 * e.spawn("setter", function* (env) { yield env.sleep(3); flag = true; q.wakeUp(); });
 * if (e.run().reason !== "done") throw new Error("waiter not woken");
 * ```
 */
export function waitEvent(
  env: { current: Task | null; waitOn(w: Waiter): Effect },
  q: WaitQueue,
  cond: () => boolean,
  exclusive = false,
): Process<void> {
  return new WaitEventIterator(env, q, cond, exclusive);
}

/**
 * `waitEvent` as a hand-written iterator rather than a generator function: it behaves as the
 * generator
 *
 *     for (;;) {
 *       if (cond()) return;
 *       const w = q.prepare(env.current!, exclusive);
 *       if (cond()) { q.finish(w); return; }
 *       yield env.waitOn(w);
 *     }
 *
 * would (nothing runs before the first `next()`, a fresh result object per call, done after
 * returning or throwing, `return()`/`throw()` finish it), but costs V8 no generator object and
 * no generator resumption per wait: about 20 % of a wait-heavy run's time.
 */
class WaitEventIterator extends Iterator<Effect, void, unknown>
  implements Generator<Effect, void, unknown> {
  #done = false;
  readonly #env: { current: Task | null; waitOn(w: Waiter): Effect };
  readonly #q: WaitQueue;
  readonly #cond: () => boolean;
  readonly #exclusive: boolean;

  constructor(
    env: { current: Task | null; waitOn(w: Waiter): Effect },
    q: WaitQueue,
    cond: () => boolean,
    exclusive: boolean,
  ) {
    super();
    this.#env = env;
    this.#q = q;
    this.#cond = cond;
    this.#exclusive = exclusive;
  }

  override next(): IteratorResult<Effect, void> {
    if (this.#done) return { value: undefined, done: true };
    // Done unless we reach the yield: an exception below finishes it, as it would a generator.
    this.#done = true;
    const cond = this.#cond;
    if (cond()) return { value: undefined, done: true };
    const w = this.#q.prepare(this.#env.current!, this.#exclusive);
    if (cond()) {
      this.#q.finish(w);
      return { value: undefined, done: true };
    }
    const effect = this.#env.waitOn(w);
    this.#done = false;
    return { value: effect, done: false };
  }

  override return(value: void): IteratorResult<Effect, void> {
    this.#done = true;
    return { value, done: true };
  }

  override throw(e: unknown): IteratorResult<Effect, void> {
    this.#done = true;
    throw e;
  }

  override [Symbol.iterator](): this {
    return this;
  }
}
