/**
 * Wait-for graphs of blocked tasks: who waits on what, who holds it, the cycles (deadlocks),
 * and the waits that end in something that will never happen (a hung server).
 *
 * Like the kernel's hung-task detector plus lockdep's chain print, for any wait whose queue
 * names its holders ({@link WaitTarget.holders}). Nodes are tasks and targets (locks, folio
 * bits, requests); an edge task → target means "blocked on", target → x means "held by x".
 *
 * @module
 */

import type { Task } from "./engine.ts";
import type { WaitTarget } from "./wait_queue.ts";

/**
 * One blocked task and its wait.
 *
 * @example
 * ```ts
 * import { Engine, Mutex, type WaitEdge } from "@mmsim/mmsim";
 * const e = new Engine();
 * const a = new Mutex("A"), b = new Mutex("B");
 * const t1 = e.spawn("t1", function* (env) { yield* a.lock(env); yield env.sleep(1); yield* b.lock(env); });
 * e.spawn("t2", function* (env) { yield* b.lock(env); yield env.sleep(1); yield* a.lock(env); });
 * const edges: WaitEdge[] = e.run().waits?.blocked ?? [];
 * const edge = edges.find((x) => x.task === t1.toString());
 * // t1 holds A and waits for B, which t2 holds.
 * if (edge?.waitsFor !== "mutex B" || edge.heldBy.join() !== "t2#1") {
 *   throw new Error(JSON.stringify(edge));
 * }
 * ```
 */
export interface WaitEdge {
  /** The blocked task (`name#id`). */
  task: string;
  /** What it waits for. */
  waitsFor: string;
  /** Who holds that (tasks as `name#id`, other targets by description). */
  heldBy: string[];
}

/**
 * The wait-for analysis of a run that ended with blocked tasks.
 *
 * @example A reader waiting on a server that never replies is hung, not deadlocked
 * ```ts
 * import { Engine, type WaitReport } from "@mmsim/mmsim";
 * const e = new Engine();
 * e.spawn("reader", function* (env) { yield env.hang("FUSE_READ reply"); });
 * const w: WaitReport | null = e.run().waits;
 * if (w?.kind !== "hung" || w.cycles.length !== 0 || w.hung.length !== 1) throw new Error(w?.text);
 * ```
 */
export interface WaitReport {
  /** `cycle` if some wait chain loops, else `hung` if some ends in a hung wait, else `blocked`. */
  kind: "cycle" | "hung" | "blocked";
  /** Every blocked task and its direct wait. */
  blocked: WaitEdge[];
  /** Each cycle as an alternating list of nodes: task, target, …, back to the first task. */
  cycles: string[][];
  /** Chains that end in a hung wait: task, target, …, the hung target. */
  hung: string[][];
  /** A human-readable rendering of the above. */
  text: string;
}

type Node = Task | WaitTarget;

function isTask(x: Node): x is Task {
  return typeof (x as Task).hasFlag === "function";
}

function label(x: Node): string {
  return isTask(x) ? x.toString() : x.describe();
}

/**
 * Build the wait-for report of a set of blocked tasks.
 *
 * @example
 * ```ts
 * import { Engine, Mutex } from "@mmsim/mmsim";
 * const e = new Engine();
 * const a = new Mutex("A"), b = new Mutex("B");
 * e.spawn("t1", function* (env) { yield* a.lock(env); yield env.sleep(1); yield* b.lock(env); });
 * e.spawn("t2", function* (env) { yield* b.lock(env); yield env.sleep(1); yield* a.lock(env); });
 * const r = e.run();
 * if (r.waits?.kind !== "cycle") throw new Error("ABBA deadlock not found");
 * ```
 */
export function analyseWaits(blocked: readonly Task[]): WaitReport {
  const edges: WaitEdge[] = [];
  const next = (n: Node): Node[] => {
    if (isTask(n)) {
      const w = n.blockedOn;
      return w ? [w.queue.target(w)] : [];
    }
    return n.holders?.() ?? [];
  };
  // Targets are recreated on each call; identify them by description.
  const key = (n: Node) => (isTask(n) ? `t:${n.id}` : `r:${n.describe()}`);
  for (const t of blocked) {
    const target = next(t)[0];
    if (!target) continue;
    edges.push({ task: t.toString(), waitsFor: label(target), heldBy: next(target).map(label) });
  }
  const cycles: string[][] = [];
  const seenCycles = new Set<string>();
  const hung: string[][] = [];
  const seenHung = new Set<string>();
  for (const start of blocked) {
    // Depth-first search for a path back to `start` or to a hung target.
    const path: Node[] = [start];
    const onPath = new Set<string>([key(start)]);
    const visited = new Set<string>();
    const dfs = (n: Node): void => {
      for (const m of next(n)) {
        const k = key(m);
        if (k === key(start)) {
          const names = [...path.map(label), label(m)];
          const canon = canonicalCycle(path.map(key));
          if (!seenCycles.has(canon)) {
            seenCycles.add(canon);
            cycles.push(names);
          }
          continue;
        }
        if (!isTask(m) && m.hung) {
          const names = [...path.map(label), label(m)];
          const hk = `${key(start)}>${k}`;
          if (!seenHung.has(hk)) {
            seenHung.add(hk);
            hung.push(names);
          }
          continue;
        }
        if (onPath.has(k) || visited.has(k)) continue;
        visited.add(k);
        onPath.add(k);
        path.push(m);
        dfs(m);
        path.pop();
        onPath.delete(k);
      }
    };
    dfs(start);
  }
  const kind = cycles.length > 0 ? "cycle" : hung.length > 0 ? "hung" : "blocked";
  const lines: string[] = [];
  lines.push(
    kind === "cycle"
      ? `deadlock: ${cycles.length} wait-for cycle(s)`
      : kind === "hung"
      ? "hung: blocked on waits that nothing will satisfy"
      : "blocked tasks (no cycle, no hung wait found)",
  );
  for (const c of cycles) lines.push(`  cycle: ${c.join(" → ")}`);
  for (const h of hung) lines.push(`  hung: ${h.join(" → ")}`);
  for (const e of edges) {
    lines.push(
      `  ${e.task} waits for ${e.waitsFor}` +
        (e.heldBy.length ? ` held by ${e.heldBy.join(", ")}` : ""),
    );
  }
  return { kind, blocked: edges, cycles, hung, text: lines.join("\n") };
}

function canonicalCycle(keys: string[]): string {
  const tasks = keys.filter((k) => k.startsWith("t:")).sort();
  return tasks.join(",") + "|" + keys.slice().sort().join(",");
}
