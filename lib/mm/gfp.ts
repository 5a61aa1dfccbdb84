/**
 * GFP flags and the task's allocation scope: what an allocation may do (sleep, reclaim, start
 * I/O, call into the filesystem, use reserves, move) and how a task narrows that for
 * everything it allocates inside a scope (`memalloc_nofs_save` …).
 *
 * Follows include/linux/gfp_types.h (flag bits and the GFP_* combinations; the v6.10-era tree
 * 594ce0b8, where 0x200 is unused after __GFP_ATOMIC's removal in v6.3), include/linux/gfp.h
 * (`gfpflags_allow_blocking`, `gfp_migratetype`) and include/linux/sched/mm.h
 * (`current_gfp_context`, `memalloc_flags_save/restore`, `memalloc_{nofs,noio,noreclaim,pin}
 * _save/restore`, tree e65d9626, v6.10 era). PF_MEMALLOC is the engine's TaskFlag.MEMALLOC;
 * PF_MEMALLOC_NOIO/NOFS/PIN are model bits 16–18 of `Task.flags`.
 *
 * Left out: zone modifiers beyond their bits (one zone), __GFP_ZEROTAGS/SKIP_KASAN/NOLOCKDEP,
 * in_interrupt() contexts.
 *
 * @module
 */

import { type Engine, TaskFlag } from "../sim/engine.ts";
import { MIGRATE } from "./memory.ts";

// ---------------------------------------------------------------------------------- GFP flags
// Bit numbers of enum ___GFP_*_BIT (include/linux/gfp_types.h, v6.10 era; 0x200 is unused).

/** __GFP_DMA: ZONE_DMA. */
export const __GFP_DMA: number = 1 << 0;
/** __GFP_HIGHMEM: highmem allowed. */
export const __GFP_HIGHMEM: number = 1 << 1;
/** __GFP_DMA32: ZONE_DMA32. */
export const __GFP_DMA32: number = 1 << 2;
/** __GFP_MOVABLE: the page can be migrated or reclaimed (MIGRATE_MOVABLE, ZONE_MOVABLE). */
export const __GFP_MOVABLE: number = 1 << 3;
/** __GFP_RECLAIMABLE: reclaimable slab (MIGRATE_RECLAIMABLE). */
export const __GFP_RECLAIMABLE: number = 1 << 4;
/** __GFP_HIGH: high priority, may use part of the min reserve (ALLOC_MIN_RESERVE). */
export const __GFP_HIGH: number = 1 << 5;
/** __GFP_IO: reclaim may start physical I/O. */
export const __GFP_IO: number = 1 << 6;
/** __GFP_FS: reclaim may call into the filesystem (may_enter_fs). */
export const __GFP_FS: number = 1 << 7;
/** __GFP_ZERO: return a zeroed page. */
export const __GFP_ZERO: number = 1 << 8;
/** __GFP_DIRECT_RECLAIM: the caller may enter direct reclaim (may sleep). */
export const __GFP_DIRECT_RECLAIM: number = 1 << 10;
/** __GFP_KSWAPD_RECLAIM: wake kswapd at the low watermark. */
export const __GFP_KSWAPD_RECLAIM: number = 1 << 11;
/** __GFP_WRITE: the caller intends to dirty the page. */
export const __GFP_WRITE: number = 1 << 12;
/** __GFP_NOWARN: no failure report. */
export const __GFP_NOWARN: number = 1 << 13;
/** __GFP_RETRY_MAYFAIL: retry harder, but may fail. */
export const __GFP_RETRY_MAYFAIL: number = 1 << 14;
/** __GFP_NOFAIL: retry forever. */
export const __GFP_NOFAIL: number = 1 << 15;
/** __GFP_NORETRY: one light attempt at reclaim/compaction, then fail. */
export const __GFP_NORETRY: number = 1 << 16;
/** __GFP_MEMALLOC: access to all reserves. */
export const __GFP_MEMALLOC: number = 1 << 17;
/** __GFP_COMP: a compound page (a folio). */
export const __GFP_COMP: number = 1 << 18;
/** __GFP_NOMEMALLOC: never use the reserves (wins over __GFP_MEMALLOC). */
export const __GFP_NOMEMALLOC: number = 1 << 19;
/** __GFP_HARDWALL: enforce the cpuset (no cpusets in the model). */
export const __GFP_HARDWALL: number = 1 << 20;
/** __GFP_THISNODE: no fallback to other nodes (one node in the model). */
export const __GFP_THISNODE: number = 1 << 21;
/** __GFP_ACCOUNT: charge to kmemcg (no memcg in the model). */
export const __GFP_ACCOUNT: number = 1 << 22;
/** __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM. */
export const __GFP_RECLAIM: number = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
/** GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM: may not sleep, may use reserves. */
export const GFP_ATOMIC: number = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
/** GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS. */
export const GFP_KERNEL: number = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
/** GFP_NOWAIT = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN. */
export const GFP_NOWAIT: number = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN;
/** GFP_NOIO = __GFP_RECLAIM: reclaim, but no I/O and no filesystem. */
export const GFP_NOIO: number = __GFP_RECLAIM;
/** GFP_NOFS = __GFP_RECLAIM | __GFP_IO: reclaim and I/O, but no filesystem. */
export const GFP_NOFS: number = __GFP_RECLAIM | __GFP_IO;
/** GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL. */
export const GFP_USER: number = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
/** GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM. */
export const GFP_HIGHUSER: number = GFP_USER | __GFP_HIGHMEM;
/**
 * GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE (| __GFP_SKIP_KASAN, 0 without
 * KASAN_HW_TAGS): page-cache and anonymous memory; the default `mapping_gfp_mask`.
 */
export const GFP_HIGHUSER_MOVABLE: number = GFP_HIGHUSER | __GFP_MOVABLE;
/** GFP_TRANSHUGE_LIGHT: THP fault allocation, no reclaim at all. */
export const GFP_TRANSHUGE_LIGHT: number =
  (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM;
/** GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM. */
export const GFP_TRANSHUGE: number = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM;

/** Names of the GFP bits, for {@link gfpToString}. */
const GFP_NAMES: [number, string][] = [
  [__GFP_DMA, "__GFP_DMA"],
  [__GFP_HIGHMEM, "__GFP_HIGHMEM"],
  [__GFP_DMA32, "__GFP_DMA32"],
  [__GFP_MOVABLE, "__GFP_MOVABLE"],
  [__GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"],
  [__GFP_HIGH, "__GFP_HIGH"],
  [__GFP_IO, "__GFP_IO"],
  [__GFP_FS, "__GFP_FS"],
  [__GFP_ZERO, "__GFP_ZERO"],
  [__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"],
  [__GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"],
  [__GFP_WRITE, "__GFP_WRITE"],
  [__GFP_NOWARN, "__GFP_NOWARN"],
  [__GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"],
  [__GFP_NOFAIL, "__GFP_NOFAIL"],
  [__GFP_NORETRY, "__GFP_NORETRY"],
  [__GFP_MEMALLOC, "__GFP_MEMALLOC"],
  [__GFP_COMP, "__GFP_COMP"],
  [__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"],
  [__GFP_HARDWALL, "__GFP_HARDWALL"],
  [__GFP_THISNODE, "__GFP_THISNODE"],
  [__GFP_ACCOUNT, "__GFP_ACCOUNT"],
];

/**
 * Format GFP flags the way `%pGg` does ("GFP_KERNEL|__GFP_COMP").
 *
 * @example
 * ```ts
 * import { gfpToString, GFP_NOFS, __GFP_COMP } from "@mmsim/mmsim";
 * if (gfpToString(GFP_NOFS | __GFP_COMP) !== "GFP_NOFS|__GFP_COMP") throw new Error();
 * ```
 */
export function gfpToString(gfp: number): string {
  const parts: string[] = [];
  let rest = gfp;
  for (
    const [mask, name] of [
      [GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"],
      [GFP_USER, "GFP_USER"],
      [GFP_KERNEL, "GFP_KERNEL"],
      [GFP_NOFS, "GFP_NOFS"],
      [GFP_NOIO, "GFP_NOIO"],
      [GFP_ATOMIC, "GFP_ATOMIC"],
    ] as const
  ) {
    if ((rest & mask) === mask) {
      parts.push(name);
      rest &= ~mask;
      break;
    }
  }
  for (const [bit, name] of GFP_NAMES) if (rest & bit) parts.push(name);
  return parts.length ? parts.join("|") : "0";
}

/**
 * gfpflags_allow_blocking(): may this allocation sleep (direct reclaim)?
 *
 * @example
 * ```ts
 * import { gfpflagsAllowBlocking, GFP_KERNEL, GFP_ATOMIC } from "@mmsim/mmsim";
 * if (!gfpflagsAllowBlocking(GFP_KERNEL) || gfpflagsAllowBlocking(GFP_ATOMIC)) throw new Error();
 * ```
 */
export function gfpflagsAllowBlocking(gfp: number): boolean {
  return (gfp & __GFP_DIRECT_RECLAIM) !== 0;
}

/**
 * gfp_migratetype() (include/linux/gfp.h): MOVABLE for __GFP_MOVABLE, RECLAIMABLE for
 * __GFP_RECLAIMABLE, else UNMOVABLE.
 *
 * @example
 * ```ts
 * import { gfpMigratetype, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, MIGRATE } from "@mmsim/mmsim";
 * if (gfpMigratetype(GFP_HIGHUSER_MOVABLE) !== MIGRATE.MOVABLE) throw new Error();
 * if (gfpMigratetype(GFP_KERNEL) !== MIGRATE.UNMOVABLE) throw new Error();
 * ```
 */
export function gfpMigratetype(gfp: number): number {
  if (gfp & __GFP_MOVABLE) return MIGRATE.MOVABLE;
  if (gfp & __GFP_RECLAIMABLE) return MIGRATE.RECLAIMABLE;
  return MIGRATE.UNMOVABLE;
}

// ------------------------------------------------------------------- task allocation scope

/** PF_MEMALLOC (the engine's {@link TaskFlag}.MEMALLOC): reserves, no reclaim recursion. */
export const PF_MEMALLOC: number = TaskFlag.MEMALLOC;
/** PF_MEMALLOC_NOIO (model bit 16): allocations in this scope lose __GFP_IO and __GFP_FS. */
export const PF_MEMALLOC_NOIO: number = 1 << 16;
/** PF_MEMALLOC_NOFS (model bit 17): allocations in this scope lose __GFP_FS. */
export const PF_MEMALLOC_NOFS: number = 1 << 17;
/** PF_MEMALLOC_PIN (model bit 18): allocations in this scope lose __GFP_MOVABLE. */
export const PF_MEMALLOC_PIN: number = 1 << 18;

/**
 * current_gfp_context() (include/linux/sched/mm.h): apply the running task's allocation
 * scope to `gfp`. PF_MEMALLOC_NOIO clears __GFP_IO and __GFP_FS (and wins over NOFS),
 * PF_MEMALLOC_NOFS clears __GFP_FS, PF_MEMALLOC_PIN clears __GFP_MOVABLE. Outside a task
 * (no `env.current`) the flags are returned unchanged.
 *
 * @example
 * ```ts
 * import { Engine, currentGfpContext, memallocNofsSave, memallocNofsRestore, GFP_KERNEL, __GFP_FS } from "@mmsim/mmsim";
 * const env = new Engine();
 * let inside = 0;
 * env.spawn("fs", function* () {
 *   const nofs = memallocNofsSave(env);
 *   inside = currentGfpContext(env, GFP_KERNEL);
 *   memallocNofsRestore(env, nofs);
 * });
 * env.run();
 * if (inside & __GFP_FS) throw new Error("NOFS scope must clear __GFP_FS");
 * ```
 */
export function currentGfpContext(env: Engine, gfp: number): number {
  const pflags = env.current?.flags ?? 0;
  if (pflags & (PF_MEMALLOC_NOIO | PF_MEMALLOC_NOFS | PF_MEMALLOC_PIN)) {
    if (pflags & PF_MEMALLOC_NOIO) gfp &= ~(__GFP_IO | __GFP_FS);
    else if (pflags & PF_MEMALLOC_NOFS) gfp &= ~__GFP_FS;
    if (pflags & PF_MEMALLOC_PIN) gfp &= ~__GFP_MOVABLE;
  }
  return gfp;
}

/** memalloc_flags_save(): set `flags` on the current task; returns those that were clear. */
function memallocFlagsSave(env: Engine, flags: number): number {
  const t = env.current;
  if (!t) throw new Error(`memalloc_flags_save: no current task (flags ${flags})`);
  const old = ~t.flags & flags;
  t.flags |= flags;
  return old;
}

/** memalloc_flags_restore(): clear the flags a matching save set. */
function memallocFlagsRestore(env: Engine, saved: number): void {
  const t = env.current;
  if (!t) throw new Error(`memalloc_flags_restore: no current task (flags ${saved})`);
  t.flags &= ~saved;
}

/**
 * memalloc_nofs_save(): begin a GFP_NOFS scope on the current task (PF_MEMALLOC_NOFS);
 * returns the value for {@link memallocNofsRestore}. Scopes nest.
 *
 * @example
 * ```ts
 * import { Engine, memallocNofsSave, memallocNofsRestore, PF_MEMALLOC_NOFS } from "@mmsim/mmsim";
 * const env = new Engine();
 * const t = env.spawn("t", function* () {
 *   const outer = memallocNofsSave(env);
 *   const inner = memallocNofsSave(env);
 *   memallocNofsRestore(env, inner);
 *   if (!(env.current!.flags & PF_MEMALLOC_NOFS)) throw new Error("still in the outer scope");
 *   memallocNofsRestore(env, outer);
 * });
 * env.run();
 * if (t.flags & PF_MEMALLOC_NOFS) throw new Error("scope ended");
 * ```
 */
export function memallocNofsSave(env: Engine): number {
  return memallocFlagsSave(env, PF_MEMALLOC_NOFS);
}

/** memalloc_nofs_restore(): end a scope begun by {@link memallocNofsSave}. */
export function memallocNofsRestore(env: Engine, flags: number): void {
  memallocFlagsRestore(env, flags);
}

/**
 * memalloc_noio_save(): begin a GFP_NOIO scope (PF_MEMALLOC_NOIO).
 *
 * @example
 * ```ts
 * import { Engine, memallocNoioSave, memallocNoioRestore, currentGfpContext, GFP_KERNEL, __GFP_IO } from "@mmsim/mmsim";
 * const env = new Engine();
 * let g = 0;
 * env.spawn("blk", function* () {
 *   const s = memallocNoioSave(env);
 *   g = currentGfpContext(env, GFP_KERNEL);
 *   memallocNoioRestore(env, s);
 * });
 * env.run();
 * if (g & __GFP_IO) throw new Error("NOIO scope must clear __GFP_IO");
 * ```
 */
export function memallocNoioSave(env: Engine): number {
  return memallocFlagsSave(env, PF_MEMALLOC_NOIO);
}

/** memalloc_noio_restore(). */
export function memallocNoioRestore(env: Engine, flags: number): void {
  memallocFlagsRestore(env, flags);
}

/**
 * memalloc_noreclaim_save(): set PF_MEMALLOC on the current task (reclaim and compaction
 * run like this: their own allocations use the reserves and never recurse into reclaim).
 *
 * @example
 * ```ts
 * import { Engine, memallocNoreclaimSave, memallocNoreclaimRestore, TaskFlag } from "@mmsim/mmsim";
 * const env = new Engine();
 * let inside = false;
 * env.spawn("reclaimer", function* () {
 *   const s = memallocNoreclaimSave(env);
 *   inside = env.current!.hasFlag(TaskFlag.MEMALLOC);
 *   memallocNoreclaimRestore(env, s);
 * });
 * env.run();
 * if (!inside) throw new Error("PF_MEMALLOC inside the scope");
 * ```
 */
export function memallocNoreclaimSave(env: Engine): number {
  return memallocFlagsSave(env, PF_MEMALLOC);
}

/** memalloc_noreclaim_restore(). */
export function memallocNoreclaimRestore(env: Engine, flags: number): void {
  memallocFlagsRestore(env, flags);
}
