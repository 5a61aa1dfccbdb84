/**
 * Thread 000, explorations: C0.2 (retry semantics make abandonment safe) and the splice
 * lock_request race of C0.4 (a078484921052).
 *
 * {@link abandonRaceWorld}: a FUSE file A whose page 0 a reader brings in by readahead (a
 * locked placeholder and a background READ the server answers one tick later), a migrator that
 * isolates the placeholder and migrates it (with the proposed `->abandonFolio` hook on the
 * mapping), a second reader of A, and a reader of another file B whose allocation can reuse
 * the abandoned frame — all at the same instant, so the exhaustive search tries every order.
 * Memory is nearly full, so a freed frame is soon reused. Every reader's result is checked
 * against the server's storage: a tag that differs is a stale read; a read error is counted
 * apart. The negative control copies the late reply into the abandoned frame.
 *
 * {@link spliceAbortWorld}: a readahead READ answered by splice-move while `fuse_abort_conn`
 * runs, with and without `lock_request()` before `replace_page_cache_folio()`.
 *
 * Not a kernel model; it composes lib/mm and lib/fs/fuse*.ts.
 *
 * @module
 */

import type { Engine } from "../sim/engine.ts";
import type { ScenarioHooks } from "../sim/explore.ts";
import type { MigrateMode } from "../mm/address_space.ts";
import { filemapGetEntry } from "../mm/address_space.ts";
import { folioAlloc } from "../mm/folio.ts";
import { MIGRATE } from "../mm/memory.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../mm/migrate.ts";
import { Mm } from "../mm/mm.ts";
import { mappingDefaultRa } from "../mm/readahead.ts";
import { type FuseInode, FuseMount } from "../fs/fuse.ts";
import { FuseReadSide } from "../fs/fuse_read.ts";

/**
 * A variant of the abandonment exploration.
 *
 * @example
 * ```ts
 * import { abandonRaceWorld, type AbandonVariant, explore, randomSearch } from "@mmsim/mmsim";
 * const v: AbandonVariant = { abandon: "remove", lateReply: "drop", mode: "MIGRATE_ASYNC" };
 * const r = explore(abandonRaceWorld(v), { search: randomSearch({ executions: 20, seed: 1 }) });
 * if (r.verdicts["stale read"] !== "Never") throw new Error(r.counterexample?.why);
 * ```
 */
export interface AbandonVariant {
  /** How the hook abandons: unlock the folio, or remove it from the page cache. */
  abandon: "unlock" | "remove";
  /** The late reply: dropped (the proposal) or copied into the frame (negative control). */
  lateReply: "drop" | "copy";
  /** Migration mode of the migrator. */
  mode: MigrateMode;
  /** The server fails every READ of file A after the first (the retried read fails). */
  failRetry?: boolean;
}

/**
 * Label of a variant, e.g. "unlock, late reply dropped, ASYNC".
 *
 * @example
 * ```ts
 * import { abandonVariantLabel } from "@mmsim/mmsim";
 * const label = abandonVariantLabel({
 *   abandon: "remove",
 *   lateReply: "copy",
 *   mode: "MIGRATE_SYNC",
 *   failRetry: true,
 * });
 * if (label !== "remove, late reply copied, retry fails, SYNC") throw new Error(label);
 * ```
 */
export function abandonVariantLabel(v: AbandonVariant): string {
  return `${v.abandon}, ${v.lateReply === "drop" ? "late reply dropped" : "late reply copied"}` +
    `${v.failRetry ? ", retry fails" : ""}, ${v.mode.replace("MIGRATE_", "")}`;
}

/**
 * The variants explored for C0.2: {unlock, remove} × {drop, copy}, and the dropped variants
 * with a server that fails the retried read; ASYNC migration.
 *
 * @example
 * ```ts
 * import { ABANDON_VARIANTS, abandonVariantLabel } from "@mmsim/mmsim";
 * const labels = new Set(ABANDON_VARIANTS.map(abandonVariantLabel));
 * if (labels.size !== 6) throw new Error("labels tell the variants apart");
 * const controls = ABANDON_VARIANTS.filter((v) => v.lateReply === "copy");
 * if (controls.length !== 2) throw new Error("unlock and remove, each with the reply copied");
 * ```
 */
export const ABANDON_VARIANTS: readonly AbandonVariant[] = [
  { abandon: "unlock", lateReply: "drop", mode: "MIGRATE_ASYNC" },
  { abandon: "remove", lateReply: "drop", mode: "MIGRATE_ASYNC" },
  { abandon: "unlock", lateReply: "drop", mode: "MIGRATE_ASYNC", failRetry: true },
  { abandon: "remove", lateReply: "drop", mode: "MIGRATE_ASYNC", failRetry: true },
  { abandon: "unlock", lateReply: "copy", mode: "MIGRATE_ASYNC" },
  { abandon: "remove", lateReply: "copy", mode: "MIGRATE_ASYNC" },
];

const TAG_A = 1000, TAG_B = 2000;

function smallFuse(env: Engine, readCfg: ConstructorParameters<typeof FuseReadSide>[1]) {
  const mm = new Mm(env, { memory: { nrFrames: 32 }, zone: { minFreeKbytes: 0 } });
  const server = { threads: 1, latency: { kind: "fixed", ns: 0 }, maxPagesPerReq: 32 } as const;
  // File A on one mount (the read side under test), file B on another with its own server,
  // so B's reply can overtake A's late reply.
  const mount = new FuseMount(mm, { server });
  const rs = new FuseReadSide(mount, { latency: { kind: "fixed", ns: 1 }, ...readCfg });
  const a = rs.createInode(new Map([[0, TAG_A], [1, TAG_A + 1]]));
  const rsB = new FuseReadSide(new FuseMount(mm, { server }), {});
  const b = rsB.createInode(new Map([[0, TAG_B]]));
  for (const fi of [a, b]) mappingDefaultRa(mm, fi.mapping).random = true; // exactly one page
  return { mm, mount, rs, rsB, a, b };
}

/** Fill memory until `free` frames are left (filler frames, never freed). */
function fillMemory(mm: Mm, free: number): void {
  while (mm.zone.nrFreePages > free) {
    if (folioAlloc(mm, 0, MIGRATE.MOVABLE) < 0) break;
  }
}

/**
 * C0.2's world (see the module doc) for one variant, as an exploration setup. Labels:
 * `stale read` (a reader got a tag its file's storage never held at that index),
 * `read error`, `abandoned` (the hook gave a read up), plus the engine's violations
 * (`violation:use-after-free`, `violation:VM_BUG_ON_FOLIO`, …).
 *
 * @example
 * ```ts
 * import { abandonRaceWorld, explore, randomSearch } from "@mmsim/mmsim";
 * // 50 random schedules here; c02Evidence at size "full" searches it exhaustively.
 * const world = abandonRaceWorld({ abandon: "unlock", lateReply: "drop", mode: "MIGRATE_ASYNC" });
 * const r = explore(world, { search: randomSearch({ executions: 50, seed: 1 }) });
 * if (r.verdicts["stale read"] !== "Never" || r.verdicts.violation !== "Never") throw new Error();
 * ```
 */
export function abandonRaceWorld(v: AbandonVariant): (env: Engine) => ScenarioHooks {
  return (env: Engine) => {
    const { mm, rs, rsB, a, b } = smallFuse(env, { abandon: v.abandon, lateReply: v.lateReply });
    if (v.failRetry) rs.failRead = (req) => req.unique > 1;
    const results: Array<{ fi: FuseInode; tags: number[] | null }> = [];
    const reader = (name: string, fi: FuseInode, at: number) => {
      env.spawn(name, function* (e) {
        if (at > 0) yield e.sleep(at);
        const r = yield* (fi === b ? rsB : rs).read(fi, 0, 1);
        results.push({ fi, tags: r.ok ? r.value : null });
      });
    };
    fillMemory(mm, 5);
    reader("reader A1", a, 0);
    env.spawn("migrate", function* (e) {
      yield e.sleep(1);
      const f = filemapGetEntry(a.mapping, 0);
      if (f < 0 || !isolateFolioForMigration(mm, f)) return;
      const r = yield* migratePages(mm, [f], allocMigrationTarget, v.mode, "MR_COMPACTION");
      putbackMovablePages(mm, r.failed);
    });
    reader("reader B", b, 1);
    const storageOf = (fi: FuseInode) => fi.mount.conn.storageOf(fi.ino);
    return {
      outcome: () => {
        let stale = false, error = false;
        for (const r of results) {
          if (r.tags === null) error = true;
          else if (r.tags.some((t, i) => t !== (storageOf(r.fi).get(i) ?? 0))) stale = true;
        }
        return { "stale read": stale, "read error": error, abandoned: rs.stats.abandoned > 0 };
      },
    };
  };
}

/**
 * The splice race of C0.4 (a078484921052): one readahead READ answered by splice-move, and
 * `fuse_abort_conn` at the same instant. `fix`: `lock_request()` before the replace. Labels:
 * `moved` (the server's page replaced the placeholder), `aborted`, and the violations
 * (`violation:use-after-free` of `fuse_io_args`, `violation:VM_BUG_ON_FOLIO` from replacing a
 * placeholder the abort already unlocked).
 *
 * @example
 * ```ts
 * import { explore, exhaustive, spliceAbortWorld } from "@mmsim/mmsim";
 * const r = explore(spliceAbortWorld(true), { search: exhaustive({ maxPreemptions: 2 }) });
 * if (r.verdicts.violation !== "Never") throw new Error("the fix closes the window");
 * ```
 */
export function spliceAbortWorld(fix: boolean): (env: Engine) => ScenarioHooks {
  return (env: Engine) => {
    const { mm, rs, a } = smallFuse(env, {
      reply: "splice",
      splice: { lockRequestFix: fix, pipeMaxUsage: 16 },
    });
    void mm;
    env.spawn("reader", function* () {
      yield* rs.read(a, 0, 1);
    });
    env.spawn("fuse_abort_conn", function* (e) {
      yield e.sleep(1);
      rs.abortConn();
    });
    return {
      outcome: () => ({ moved: rs.stats.movedPages > 0, aborted: rs.stats.aborted > 0 }),
    };
  };
}
