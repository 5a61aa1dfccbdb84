/**
 * Sleeping locks and completions built on {@link WaitQueue}: `mutex`, `rw_semaphore`,
 * `completion`. Each knows its holders, so a deadlock shows up as a wait-for cycle.
 *
 * Follows kernel/locking/mutex.c, kernel/locking/rwsem.c and kernel/sched/completion.c
 * (Linux v6.12) for who may take the lock when: mutex waiters are woken one at a time;
 * rwsem readers queue behind a waiting writer (no reader barging); `complete()` wakes one
 * waiter and `complete_all()` all of them. Left out: optimistic spinning, handoff bits,
 * lockdep classes (the wait-for graph does that job here).
 *
 * @module
 */

import type { Engine, Process, Task } from "./engine.ts";
import { WaitQueue, type WaitTarget } from "./wait_queue.ts";

/**
 * A sleeping mutex (struct mutex).
 *
 * @example
 * ```ts
 * import { Engine, Mutex } from "@mmsim/mmsim";
 * const e = new Engine();
 * const m = new Mutex("i_rwsem");
 * let inside = 0, maxInside = 0;
 * for (const n of ["a", "b", "c"]) {
 *   e.spawn(n, function* (env) {
 *     yield* m.lock(env);
 *     inside++; maxInside = Math.max(maxInside, inside);
 *     yield env.sleep(10);
 *     inside--;
 *     m.unlock(env);
 *   });
 * }
 * e.run();
 * if (maxInside !== 1) throw new Error("mutual exclusion broken");
 * ```
 */
export class Mutex implements WaitTarget {
  /** Name in reports. */
  readonly name: string;
  /** The holder, or null. */
  owner: Task | null = null;
  /** Waiters (exclusive). */
  readonly queue: WaitQueue;

  /** Create an unlocked mutex. */
  constructor(name: string) {
    this.name = name;
    this.queue = new WaitQueue(`mutex ${name}`);
    this.queue.owners = () => (this.owner ? [this.owner] : []);
  }

  /** Wait-for description. */
  describe(): string {
    return `mutex ${this.name}`;
  }

  /** Holders for wait-for graphs. */
  holders(): Task[] {
    return this.owner ? [this.owner] : [];
  }

  /** mutex_trylock: take the lock if free. */
  tryLock(env: Engine): boolean {
    if (this.owner) return false;
    this.owner = env.current;
    return true;
  }

  /** mutex_lock: sleep until the lock is free, then take it. Use with `yield*`. */
  *lock(env: Engine): Process<void> {
    const me = env.current!;
    if (this.owner === me) throw new Error(`mutex_lock(${this.name}): ${me} already holds it`);
    while (this.owner) {
      const w = this.queue.prepare(me, true);
      if (!this.owner) {
        this.queue.finish(w);
        break;
      }
      yield env.waitOn(w);
    }
    this.owner = me;
  }

  /** mutex_unlock: release and wake one waiter. */
  unlock(env: Engine): void {
    if (this.owner !== env.current) {
      throw new Error(
        `mutex_unlock(${this.name}): called by ${env.current}, held by ${this.owner ?? "nobody"}`,
      );
    }
    this.owner = null;
    this.queue.wakeUp(1);
  }
}

/**
 * A read-write semaphore (struct rw_semaphore): many readers or one writer; readers wait
 * behind a queued writer.
 *
 * @example
 * ```ts
 * import { Engine, RwSem } from "@mmsim/mmsim";
 * const e = new Engine();
 * const s = new RwSem("mmap_lock");
 * let readersTogether = 0, max = 0;
 * for (const n of ["r1", "r2"]) {
 *   e.spawn(n, function* (env) {
 *     yield* s.downRead(env); readersTogether++; max = Math.max(max, readersTogether);
 *     yield env.sleep(5); readersTogether--; s.upRead(env);
 *   });
 * }
 * e.run();
 * if (max !== 2) throw new Error("readers should share");
 * ```
 */
export class RwSem implements WaitTarget {
  /** Name in reports. */
  readonly name: string;
  /** Writer holding it, or null. */
  writer: Task | null = null;
  /** Readers holding it. */
  readonly readers = new Set<Task>();
  /** Waiters. */
  readonly queue: WaitQueue;
  #writersWaiting = 0;

  /** Create an unlocked semaphore. */
  constructor(name: string) {
    this.name = name;
    this.queue = new WaitQueue(`rwsem ${name}`);
    this.queue.owners = () => this.holders();
  }

  /** Wait-for description. */
  describe(): string {
    return `rwsem ${this.name}`;
  }

  /** Current holders. */
  holders(): Task[] {
    return this.writer ? [this.writer] : [...this.readers];
  }

  /** down_read. Use with `yield*`. */
  *downRead(env: Engine): Process<void> {
    const me = env.current!;
    const blocked = () => this.writer !== null || this.#writersWaiting > 0;
    while (blocked()) {
      const w = this.queue.prepare(me, false);
      if (!blocked()) {
        this.queue.finish(w);
        break;
      }
      yield env.waitOn(w);
    }
    this.readers.add(me);
  }

  /** up_read. */
  upRead(env: Engine): void {
    if (!this.readers.delete(env.current!)) {
      throw new Error(`up_read(${this.name}): ${env.current} does not hold it for read`);
    }
    if (this.readers.size === 0) this.queue.wakeUp(0);
  }

  /** down_write. Use with `yield*`. */
  *downWrite(env: Engine): Process<void> {
    const me = env.current!;
    const blocked = () => this.writer !== null || this.readers.size > 0;
    if (blocked()) {
      this.#writersWaiting++;
      try {
        while (blocked()) {
          const w = this.queue.prepare(me, true);
          if (!blocked()) {
            this.queue.finish(w);
            break;
          }
          yield env.waitOn(w);
        }
      } finally {
        this.#writersWaiting--;
      }
    }
    this.writer = me;
  }

  /** up_write. */
  upWrite(env: Engine): void {
    if (this.writer !== env.current) {
      throw new Error(`up_write(${this.name}): called by ${env.current}, held by ${this.writer}`);
    }
    this.writer = null;
    this.queue.wakeUp(0);
  }
}

/**
 * A completion (struct completion).
 *
 * @example
 * ```ts
 * import { Engine, Completion } from "@mmsim/mmsim";
 * const e = new Engine();
 * const done = new Completion("FUSE reply");
 * e.spawn("waiter", function* (env) { yield* done.wait(env); });
 * e.spawn("server", function* (env) { yield env.sleep(100); done.complete(); });
 * if (e.run().nowNs !== 100) throw new Error("waited for the reply");
 * ```
 */
export class Completion implements WaitTarget {
  /** Name in reports. */
  readonly name: string;
  /** Count of completions not yet consumed (Infinity after completeAll). */
  done = 0;
  /** Who is expected to complete it (for wait-for graphs); set by the model. */
  owner: Task | WaitTarget | null = null;
  /** Waiters. */
  readonly queue: WaitQueue;

  /** Create a completion that is not done. */
  constructor(name: string) {
    this.name = name;
    this.queue = new WaitQueue(name);
    this.queue.owners = () => (this.owner ? [this.owner] : []);
  }

  /** Wait-for description. */
  describe(): string {
    return this.name;
  }

  /** Holders for wait-for graphs. */
  holders(): Array<Task | WaitTarget> {
    return this.owner ? [this.owner] : [];
  }

  /** wait_for_completion. Use with `yield*`. */
  *wait(env: Engine): Process<void> {
    while (this.done === 0) {
      const w = this.queue.prepare(env.current!, true);
      if (this.done > 0) {
        this.queue.finish(w);
        break;
      }
      yield env.waitOn(w);
    }
    if (this.done !== Infinity) this.done--;
  }

  /** try_wait_for_completion. */
  tryWait(): boolean {
    if (this.done === 0) return false;
    if (this.done !== Infinity) this.done--;
    return true;
  }

  /** complete: one waiter may proceed. */
  complete(): void {
    if (this.done !== Infinity) this.done++;
    this.queue.wakeUp(1);
  }

  /** complete_all: every current and future waiter proceeds. */
  completeAll(): void {
    this.done = Infinity;
    this.queue.wakeUp(0);
  }

  /** completion_done. */
  get isDone(): boolean {
    return this.done > 0;
  }
}
