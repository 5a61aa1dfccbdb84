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

/**
 * __GFP_DMA: ZONE_DMA.
 *
 * @example
 * ```ts
 * import { __GFP_DMA, GFP_KERNEL, gfpMigratetype, gfpToString, MIGRATE } from "@mmsim/mmsim";
 * // A zone modifier: no GFP_* combination asks for ZONE_DMA, a driver adds it.
 * if ((GFP_KERNEL & __GFP_DMA) !== 0) throw new Error("GFP_KERNEL does not ask for ZONE_DMA");
 * if (gfpToString(GFP_KERNEL | __GFP_DMA) !== "GFP_KERNEL|GFP_DMA") throw new Error("%pGg");
 * if (gfpMigratetype(GFP_KERNEL | __GFP_DMA) !== MIGRATE.UNMOVABLE) throw new Error("zone ≠ mobility");
 * ```
 */
export const __GFP_DMA: number = 1 << 0;
/**
 * __GFP_HIGHMEM: highmem allowed.
 *
 * @example
 * ```ts
 * import { __GFP_HIGHMEM, GFP_HIGHUSER, GFP_KERNEL, GFP_USER } from "@mmsim/mmsim";
 * if (GFP_HIGHUSER !== (GFP_USER | __GFP_HIGHMEM)) throw new Error("GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM");
 * if ((GFP_KERNEL & __GFP_HIGHMEM) !== 0) throw new Error("kernel allocations must be directly mapped");
 * ```
 */
export const __GFP_HIGHMEM: number = 1 << 1;
/**
 * __GFP_DMA32: ZONE_DMA32.
 *
 * @example
 * ```ts
 * import { __GFP_DMA32, GFP_KERNEL, gfpMigratetype, gfpToString, MIGRATE } from "@mmsim/mmsim";
 * if ((GFP_KERNEL & __GFP_DMA32) !== 0) throw new Error("GFP_KERNEL does not ask for ZONE_DMA32");
 * if (gfpToString(GFP_KERNEL | __GFP_DMA32) !== "GFP_KERNEL|GFP_DMA32") throw new Error("%pGg");
 * if (gfpMigratetype(GFP_KERNEL | __GFP_DMA32) !== MIGRATE.UNMOVABLE) throw new Error("zone ≠ mobility");
 * ```
 */
export const __GFP_DMA32: number = 1 << 2;
/**
 * __GFP_MOVABLE: the page can be migrated or reclaimed (MIGRATE_MOVABLE, ZONE_MOVABLE).
 *
 * @example
 * ```ts
 * import { __GFP_MOVABLE, ALLOC_FLAGS, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, gfpMigratetype, gfpToAllocFlags, MIGRATE } from "@mmsim/mmsim";
 * if ((GFP_HIGHUSER_MOVABLE & __GFP_MOVABLE) === 0) throw new Error("page cache is movable");
 * if (gfpMigratetype(GFP_KERNEL | __GFP_MOVABLE) !== MIGRATE.MOVABLE) throw new Error("MIGRATE_MOVABLE");
 * // Only movable requests may be placed in CMA pageblocks.
 * if (!(gfpToAllocFlags(GFP_HIGHUSER_MOVABLE) & ALLOC_FLAGS.CMA)) throw new Error("ALLOC_CMA");
 * if (gfpToAllocFlags(GFP_KERNEL) & ALLOC_FLAGS.CMA) throw new Error("no CMA for GFP_KERNEL");
 * ```
 */
export const __GFP_MOVABLE: number = 1 << 3;
/**
 * __GFP_RECLAIMABLE: reclaimable slab (MIGRATE_RECLAIMABLE).
 *
 * @example
 * ```ts
 * import { __GFP_RECLAIMABLE, GFP_KERNEL, gfpMigratetype, MIGRATE } from "@mmsim/mmsim";
 * // Reclaimable slab (dentries, inodes) is grouped into MIGRATE_RECLAIMABLE pageblocks.
 * if (gfpMigratetype(GFP_KERNEL | __GFP_RECLAIMABLE) !== MIGRATE.RECLAIMABLE) throw new Error("mt");
 * if (gfpMigratetype(GFP_KERNEL) !== MIGRATE.UNMOVABLE) throw new Error("plain GFP_KERNEL is unmovable");
 * ```
 */
export const __GFP_RECLAIMABLE: number = 1 << 4;
/**
 * __GFP_HIGH: high priority, may use part of the min reserve (ALLOC_MIN_RESERVE).
 *
 * @example
 * ```ts
 * import { __GFP_HIGH, ALLOC_FLAGS, GFP_ATOMIC, GFP_KERNEL, gfpToAllocFlags } from "@mmsim/mmsim";
 * if ((GFP_ATOMIC & __GFP_HIGH) === 0) throw new Error("GFP_ATOMIC is high priority");
 * // gfp_to_alloc_flags(): __GFP_HIGH becomes ALLOC_MIN_RESERVE (half of the min watermark).
 * if (!(gfpToAllocFlags(GFP_KERNEL | __GFP_HIGH) & ALLOC_FLAGS.MIN_RESERVE)) throw new Error("reserve");
 * if (gfpToAllocFlags(GFP_KERNEL) & ALLOC_FLAGS.MIN_RESERVE) throw new Error("no reserve by default");
 * ```
 */
export const __GFP_HIGH: number = 1 << 5;
/**
 * __GFP_IO: reclaim may start physical I/O.
 *
 * @example
 * ```ts
 * import { __GFP_IO, currentGfpContext, Engine, GFP_KERNEL, GFP_NOFS, GFP_NOIO, PF_MEMALLOC_NOIO } from "@mmsim/mmsim";
 * if ((GFP_NOFS & __GFP_IO) === 0 || (GFP_NOIO & __GFP_IO) !== 0) throw new Error("GFP_NOFS may do I/O, GFP_NOIO not");
 * // A block driver's task in a NOIO scope loses __GFP_IO on every allocation.
 * const env = new Engine();
 * let gfp = 0;
 * env.spawn("nvme reset", function* () { gfp = currentGfpContext(env, GFP_KERNEL); }, { flags: PF_MEMALLOC_NOIO });
 * env.run();
 * if (gfp & __GFP_IO) throw new Error("PF_MEMALLOC_NOIO must clear __GFP_IO");
 * ```
 */
export const __GFP_IO: number = 1 << 6;
/**
 * __GFP_FS: reclaim may call into the filesystem (may_enter_fs).
 *
 * @example
 * ```ts
 * import { __GFP_FS, GFP_KERNEL, GFP_NOFS, GFP_NOIO } from "@mmsim/mmsim";
 * if ((GFP_NOFS & __GFP_FS) !== 0) throw new Error("GFP_NOFS may not enter the fs");
 * if ((GFP_NOIO & __GFP_FS) !== 0) throw new Error("GFP_NOIO may not enter the fs either");
 * if ((GFP_KERNEL & __GFP_FS) === 0) throw new Error("GFP_KERNEL reclaim may call into the fs");
 * ```
 */
export const __GFP_FS: number = 1 << 7;
/**
 * __GFP_ZERO: return a zeroed page.
 *
 * @example
 * ```ts
 * import { __GFP_ZERO, ALLOC_FLAGS, Engine, getPageFromFreelist, GFP_KERNEL, MIGRATE, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 256 } });
 * mm.mem.data.fill(7); // stale contents in every frame
 * const ac = { gfp: GFP_KERNEL | __GFP_ZERO, order: 1, migratetype: MIGRATE.UNMOVABLE };
 * const pfn = getPageFromFreelist(mm, ac, ALLOC_FLAGS.WMARK_LOW);
 * if (pfn < 0 || mm.mem.data[pfn] !== 0 || mm.mem.data[pfn + 1] !== 0) throw new Error("zeroed");
 * ```
 */
export const __GFP_ZERO: number = 1 << 8;
/**
 * __GFP_DIRECT_RECLAIM: the caller may enter direct reclaim (may sleep).
 *
 * @example
 * ```ts
 * import { __GFP_DIRECT_RECLAIM, GFP_ATOMIC, GFP_NOIO, GFP_TRANSHUGE, GFP_TRANSHUGE_LIGHT, gfpflagsAllowBlocking } from "@mmsim/mmsim";
 * // Direct reclaim means the caller may sleep.
 * if (!gfpflagsAllowBlocking(GFP_NOIO) || gfpflagsAllowBlocking(GFP_ATOMIC)) throw new Error("blocking");
 * if ((GFP_TRANSHUGE ^ GFP_TRANSHUGE_LIGHT) !== __GFP_DIRECT_RECLAIM) throw new Error("THP light = no reclaim");
 * ```
 */
export const __GFP_DIRECT_RECLAIM: number = 1 << 10;
/**
 * __GFP_KSWAPD_RECLAIM: wake kswapd at the low watermark.
 *
 * @example
 * ```ts
 * import { __GFP_KSWAPD_RECLAIM, ALLOC_FLAGS, GFP_NOWAIT, GFP_TRANSHUGE_LIGHT, gfpToAllocFlags } from "@mmsim/mmsim";
 * // Even an allocation that may not sleep wakes kswapd…
 * if (!(gfpToAllocFlags(GFP_NOWAIT) & ALLOC_FLAGS.KSWAPD)) throw new Error("GFP_NOWAIT wakes kswapd");
 * // …but an opportunistic THP fault does not.
 * if ((GFP_TRANSHUGE_LIGHT & __GFP_KSWAPD_RECLAIM) !== 0) throw new Error("THP light wakes nobody");
 * ```
 */
export const __GFP_KSWAPD_RECLAIM: number = 1 << 11;
/**
 * __GFP_WRITE: the caller intends to dirty the page.
 *
 * @example
 * ```ts
 * import { __GFP_WRITE, GFP_HIGHUSER_MOVABLE, gfpToString } from "@mmsim/mmsim";
 * // write_begin's FGP_WRITE adds __GFP_WRITE (spread dirty pages over nodes); no default has it.
 * if ((GFP_HIGHUSER_MOVABLE & __GFP_WRITE) !== 0) throw new Error("not in the mapping default");
 * if (gfpToString(GFP_HIGHUSER_MOVABLE | __GFP_WRITE) !== "GFP_HIGHUSER_MOVABLE|__GFP_WRITE") throw new Error("%pGg");
 * ```
 */
export const __GFP_WRITE: number = 1 << 12;
/**
 * __GFP_NOWARN: no failure report.
 *
 * @example
 * ```ts
 * import { __GFP_NOWARN, GFP_KERNEL, GFP_NOWAIT, GFP_TRANSHUGE_LIGHT } from "@mmsim/mmsim";
 * // Allocations that are expected to fail do not warn.
 * if ((GFP_NOWAIT & __GFP_NOWARN) === 0 || (GFP_TRANSHUGE_LIGHT & __GFP_NOWARN) === 0) throw new Error("quiet");
 * if ((GFP_KERNEL & __GFP_NOWARN) !== 0) throw new Error("GFP_KERNEL failures are reported");
 * ```
 */
export const __GFP_NOWARN: number = 1 << 13;
/**
 * __GFP_RETRY_MAYFAIL: retry harder, but may fail.
 *
 * @example
 * ```ts
 * import { __GFP_NOFAIL, __GFP_RETRY_MAYFAIL, GFP_KERNEL, gfpToString } from "@mmsim/mmsim";
 * // A caller opts in; it is no GFP_* default, and it is the opposite promise of __GFP_NOFAIL.
 * if ((GFP_KERNEL & (__GFP_RETRY_MAYFAIL | __GFP_NOFAIL)) !== 0) throw new Error("opt-in only");
 * if (gfpToString(GFP_KERNEL | __GFP_RETRY_MAYFAIL) !== "GFP_KERNEL|__GFP_RETRY_MAYFAIL") throw new Error("%pGg");
 * ```
 */
export const __GFP_RETRY_MAYFAIL: number = 1 << 14;
/**
 * __GFP_NOFAIL: retry forever.
 *
 * @example
 * ```ts
 * import { __GFP_NOFAIL, GFP_KERNEL, GFP_NOFS, gfpToString } from "@mmsim/mmsim";
 * if ((GFP_KERNEL & __GFP_NOFAIL) !== 0) throw new Error("GFP_KERNEL may fail");
 * // Filesystems that cannot handle failure (journal commit) ask for it explicitly.
 * if (gfpToString(GFP_NOFS | __GFP_NOFAIL) !== "GFP_NOFS|__GFP_NOFAIL") throw new Error("%pGg");
 * ```
 */
export const __GFP_NOFAIL: number = 1 << 15;
/**
 * __GFP_NORETRY: one light attempt at reclaim/compaction, then fail.
 *
 * @example
 * ```ts
 * import { __GFP_NORETRY, __GFP_NOWARN, GFP_HIGHUSER_MOVABLE, gfpflagsAllowBlocking } from "@mmsim/mmsim";
 * // readahead_gfp_mask(): the mapping's mask | __GFP_NORETRY | __GFP_NOWARN — try once, quietly.
 * const ra = GFP_HIGHUSER_MOVABLE | __GFP_NORETRY | __GFP_NOWARN;
 * if (!gfpflagsAllowBlocking(ra)) throw new Error("__GFP_NORETRY still reclaims once");
 * if ((GFP_HIGHUSER_MOVABLE & __GFP_NORETRY) !== 0) throw new Error("not in the default");
 * ```
 */
export const __GFP_NORETRY: number = 1 << 16;
/**
 * __GFP_MEMALLOC: access to all reserves.
 *
 * @example A network driver may take the last reserves only with __GFP_MEMALLOC
 * ```ts
 * import { __GFP_MEMALLOC, allocPagesGfp, Engine, GFP_ATOMIC, MIGRATE, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } }); // WMARK_MIN is 64 pages
 * while (mm.zone.nrFreePages > 20) mm.zone.allocPages(0, MIGRATE.UNMOVABLE);
 * const got: number[] = [];
 * env.spawn("rx", function* () {
 *   got.push(yield* allocPagesGfp(mm, 0, GFP_ATOMIC)); // 20 free < 3/8 of min: fails
 *   got.push(yield* allocPagesGfp(mm, 0, GFP_ATOMIC | __GFP_MEMALLOC)); // ALLOC_NO_WATERMARKS
 * });
 * env.run();
 * if (got[0] !== -1 || !(got[1]! >= 0)) throw new Error(`${got}`);
 * ```
 */
export const __GFP_MEMALLOC: number = 1 << 17;
/**
 * __GFP_COMP: a compound page (a folio).
 *
 * @example
 * ```ts
 * import { __GFP_COMP, allocPagesGfp, Engine, GFP_KERNEL, Mm, NIL, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * let folio = -1, block = -1;
 * env.spawn("alloc", function* () {
 *   folio = yield* allocPagesGfp(mm, 2, GFP_KERNEL | __GFP_COMP);
 *   block = yield* allocPagesGfp(mm, 2, GFP_KERNEL);
 * });
 * env.run();
 * // prep_compound_page(): PG_head on the head, tails point at it; a plain block has neither.
 * if (!mm.mem.testFlag(folio, PG.head) || mm.mem.head[folio + 3] !== folio) throw new Error("folio");
 * if (mm.mem.testFlag(block, PG.head) || mm.mem.head[block + 3] !== NIL) throw new Error("not compound");
 * ```
 */
export const __GFP_COMP: number = 1 << 18;
/**
 * __GFP_NOMEMALLOC: never use the reserves (wins over __GFP_MEMALLOC).
 *
 * @example
 * ```ts
 * import { __GFP_MEMALLOC, __GFP_NOMEMALLOC, ALLOC_FLAGS, allocPagesGfp, Engine, GFP_ATOMIC, gfpToAllocFlags, MIGRATE, Mm } from "@mmsim/mmsim";
 * // An atomic caller normally gets ALLOC_NON_BLOCK (a further quarter of the reserve)…
 * if (!(gfpToAllocFlags(GFP_ATOMIC) & ALLOC_FLAGS.NON_BLOCK)) throw new Error("non-block");
 * if (gfpToAllocFlags(GFP_ATOMIC | __GFP_NOMEMALLOC) & ALLOC_FLAGS.NON_BLOCK) throw new Error("…not with NOMEMALLOC");
 * // …and __GFP_NOMEMALLOC wins over __GFP_MEMALLOC: no dipping below the watermark.
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * while (mm.zone.nrFreePages > 20) mm.zone.allocPages(0, MIGRATE.UNMOVABLE);
 * let pfn = 0;
 * env.spawn("t", function* () { pfn = yield* allocPagesGfp(mm, 0, GFP_ATOMIC | __GFP_MEMALLOC | __GFP_NOMEMALLOC); });
 * env.run();
 * if (pfn !== -1) throw new Error("__GFP_NOMEMALLOC must keep the reserves untouched");
 * ```
 */
export const __GFP_NOMEMALLOC: number = 1 << 19;
/**
 * __GFP_HARDWALL: enforce the cpuset (no cpusets in the model).
 *
 * @example
 * ```ts
 * import { __GFP_HARDWALL, GFP_KERNEL, GFP_USER } from "@mmsim/mmsim";
 * // User allocations stay inside the task's cpuset; kernel ones may not be refused by it.
 * if (GFP_USER !== (GFP_KERNEL | __GFP_HARDWALL)) throw new Error("GFP_USER = GFP_KERNEL | __GFP_HARDWALL");
 * if ((GFP_KERNEL & __GFP_HARDWALL) !== 0) throw new Error("GFP_KERNEL is not hardwalled");
 * ```
 */
export const __GFP_HARDWALL: number = 1 << 20;
/**
 * __GFP_THISNODE: no fallback to other nodes (one node in the model).
 *
 * @example
 * ```ts
 * import { __GFP_THISNODE, GFP_KERNEL, GFP_TRANSHUGE, gfpToString } from "@mmsim/mmsim";
 * if ((GFP_KERNEL & __GFP_THISNODE) !== 0 || (GFP_TRANSHUGE & __GFP_THISNODE) !== 0) throw new Error("opt-in");
 * if (gfpToString(GFP_KERNEL | __GFP_THISNODE) !== "GFP_KERNEL|__GFP_THISNODE") throw new Error("%pGg");
 * ```
 */
export const __GFP_THISNODE: number = 1 << 21;
/**
 * __GFP_ACCOUNT: charge to kmemcg (no memcg in the model).
 *
 * @example
 * ```ts
 * import { __GFP_ACCOUNT, GFP_KERNEL, gfpMigratetype, gfpToString, MIGRATE } from "@mmsim/mmsim";
 * // GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT: charged to kmemcg, placed like GFP_KERNEL.
 * const GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT;
 * // %pGg names the combination (include/trace/events/mmflags.h __def_gfpflag_names).
 * if (gfpToString(GFP_KERNEL_ACCOUNT) !== "GFP_KERNEL_ACCOUNT") throw new Error("%pGg");
 * if (gfpMigratetype(GFP_KERNEL_ACCOUNT) !== MIGRATE.UNMOVABLE) throw new Error("placement unchanged");
 * ```
 */
export const __GFP_ACCOUNT: number = 1 << 22;
/**
 * __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM.
 *
 * @example
 * ```ts
 * import { __GFP_DIRECT_RECLAIM, __GFP_KSWAPD_RECLAIM, __GFP_RECLAIM, GFP_NOIO, GFP_TRANSHUGE_LIGHT } from "@mmsim/mmsim";
 * if (__GFP_RECLAIM !== (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)) throw new Error("both kinds");
 * if (GFP_NOIO !== __GFP_RECLAIM) throw new Error("GFP_NOIO may reclaim, nothing more");
 * if ((GFP_TRANSHUGE_LIGHT & __GFP_RECLAIM) !== 0) throw new Error("THP light never reclaims");
 * ```
 */
export const __GFP_RECLAIM: number = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
/**
 * GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM: may not sleep, may use reserves.
 *
 * @example Atomic allocations dip into the reserve a GFP_NOWAIT caller may not touch
 * ```ts
 * import { allocPagesGfp, Engine, GFP_ATOMIC, GFP_NOWAIT, gfpflagsAllowBlocking, MIGRATE, Mm } from "@mmsim/mmsim";
 * if (gfpflagsAllowBlocking(GFP_ATOMIC)) throw new Error("GFP_ATOMIC may not sleep");
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } }); // WMARK_MIN is 64 pages
 * while (mm.zone.nrFreePages > 40) mm.zone.allocPages(0, MIGRATE.UNMOVABLE);
 * const got: number[] = [];
 * env.spawn("irq", function* () {
 *   got.push(yield* allocPagesGfp(mm, 0, GFP_NOWAIT)); // needs more than WMARK_MIN free
 *   got.push(yield* allocPagesGfp(mm, 0, GFP_ATOMIC)); // ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK
 * });
 * env.run();
 * if (got[0] !== -1 || !(got[1]! >= 0) || env.nowNs !== 0) throw new Error(`${got}`);
 * ```
 */
export const GFP_ATOMIC: number = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
/**
 * GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS.
 *
 * @example
 * ```ts
 * import { allocPagesGfp, Engine, GFP_KERNEL, gfpflagsAllowBlocking, gfpMigratetype, MIGRATE, Mm } from "@mmsim/mmsim";
 * if (!gfpflagsAllowBlocking(GFP_KERNEL)) throw new Error("GFP_KERNEL may sleep in reclaim");
 * if (gfpMigratetype(GFP_KERNEL) !== MIGRATE.UNMOVABLE) throw new Error("kernel memory is unmovable");
 * const env = new Engine({ trace: true });
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * env.spawn("kmalloc", function* () { yield* allocPagesGfp(mm, 0, GFP_KERNEL); });
 * env.run();
 * const ev = env.trace!.ofKind("mm_page_alloc")[0];
 * if ((ev?.after as { migratetype: number }).migratetype !== MIGRATE.UNMOVABLE) throw new Error("mm_page_alloc");
 * ```
 */
export const GFP_KERNEL: number = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
/**
 * GFP_NOWAIT = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN.
 *
 * @example
 * ```ts
 * import { allocPagesGfp, Engine, GFP_NOWAIT, gfpflagsAllowBlocking, MIGRATE, Mm } from "@mmsim/mmsim";
 * if (gfpflagsAllowBlocking(GFP_NOWAIT)) throw new Error("GFP_NOWAIT may not sleep");
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * while (mm.zone.nrFreePages > mm.zone.wmarkMin) mm.zone.allocPages(0, MIGRATE.UNMOVABLE);
 * let pfn = 0;
 * env.spawn("t", function* () { pfn = yield* allocPagesGfp(mm, 0, GFP_NOWAIT); });
 * env.run();
 * // At the min watermark it fails at once: no reclaim, no sleep, no reserves.
 * if (pfn !== -1 || env.nowNs !== 0 || mm.vmstat.get("alloc_failure") !== 1) throw new Error(`${pfn}`);
 * ```
 */
export const GFP_NOWAIT: number = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN;
/**
 * GFP_NOIO = __GFP_RECLAIM: reclaim, but no I/O and no filesystem.
 *
 * @example
 * ```ts
 * import { currentGfpContext, Engine, GFP_KERNEL, GFP_NOIO, gfpToString, memallocNoioRestore, memallocNoioSave } from "@mmsim/mmsim";
 * if (gfpToString(GFP_NOIO) !== "GFP_NOIO") throw new Error(gfpToString(GFP_NOIO));
 * // Inside memalloc_noio_save(), GFP_KERNEL behaves exactly as GFP_NOIO.
 * const env = new Engine();
 * let inside = 0;
 * env.spawn("blk", function* () {
 *   const s = memallocNoioSave(env);
 *   inside = currentGfpContext(env, GFP_KERNEL);
 *   memallocNoioRestore(env, s);
 * });
 * env.run();
 * if (inside !== GFP_NOIO) throw new Error(gfpToString(inside));
 * ```
 */
export const GFP_NOIO: number = __GFP_RECLAIM;
/**
 * GFP_NOFS = __GFP_RECLAIM | __GFP_IO: reclaim and I/O, but no filesystem.
 *
 * @example
 * ```ts
 * import { currentGfpContext, Engine, GFP_KERNEL, GFP_NOFS, gfpToString, memallocNofsRestore, memallocNofsSave } from "@mmsim/mmsim";
 * if (gfpToString(GFP_NOFS) !== "GFP_NOFS") throw new Error(gfpToString(GFP_NOFS));
 * // Inside memalloc_nofs_save(), GFP_KERNEL behaves exactly as GFP_NOFS.
 * const env = new Engine();
 * let inside = 0;
 * env.spawn("xfs", function* () {
 *   const s = memallocNofsSave(env);
 *   inside = currentGfpContext(env, GFP_KERNEL);
 *   memallocNofsRestore(env, s);
 * });
 * env.run();
 * if (inside !== GFP_NOFS) throw new Error(gfpToString(inside));
 * ```
 */
export const GFP_NOFS: number = __GFP_RECLAIM | __GFP_IO;
/**
 * GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL.
 *
 * @example
 * ```ts
 * import { GFP_KERNEL, GFP_USER, gfpflagsAllowBlocking, gfpMigratetype, MIGRATE } from "@mmsim/mmsim";
 * // Pinned GUP pages are migrated to GFP_USER targets: never movable, never CMA.
 * if (gfpMigratetype(GFP_USER) !== MIGRATE.UNMOVABLE) throw new Error("unmovable");
 * if ((GFP_USER & GFP_KERNEL) !== GFP_KERNEL || !gfpflagsAllowBlocking(GFP_USER)) throw new Error("as GFP_KERNEL");
 * ```
 */
export const GFP_USER: number = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
/**
 * GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM.
 *
 * @example
 * ```ts
 * import { GFP_HIGHUSER, GFP_HIGHUSER_MOVABLE, gfpMigratetype, MIGRATE } from "@mmsim/mmsim";
 * // Highmem allowed, but still unmovable: only GFP_HIGHUSER_MOVABLE adds mobility.
 * if (gfpMigratetype(GFP_HIGHUSER) !== MIGRATE.UNMOVABLE) throw new Error("unmovable");
 * if (gfpMigratetype(GFP_HIGHUSER_MOVABLE) !== MIGRATE.MOVABLE) throw new Error("movable");
 * ```
 */
export const GFP_HIGHUSER: number = GFP_USER | __GFP_HIGHMEM;
/**
 * GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE (| __GFP_SKIP_KASAN, 0 without
 * KASAN_HW_TAGS): page-cache and anonymous memory; the default `mapping_gfp_mask`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, GFP_HIGHUSER_MOVABLE, gfpMigratetype, mappingGfpMask, MIGRATE, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const mapping = AddressSpace.create(mm, { name: "file" });
 * // The default mapping_gfp_mask: page cache is movable (compaction may migrate it).
 * if (mappingGfpMask(mapping) !== GFP_HIGHUSER_MOVABLE) throw new Error("default mapping gfp");
 * if (gfpMigratetype(GFP_HIGHUSER_MOVABLE) !== MIGRATE.MOVABLE) throw new Error("MIGRATE_MOVABLE");
 * ```
 */
export const GFP_HIGHUSER_MOVABLE: number = GFP_HIGHUSER | __GFP_MOVABLE;
/**
 * GFP_TRANSHUGE_LIGHT: THP fault allocation, no reclaim at all.
 *
 * @example
 * ```ts
 * import { __GFP_COMP, GFP_TRANSHUGE_LIGHT, gfpflagsAllowBlocking, gfpMigratetype, MIGRATE } from "@mmsim/mmsim";
 * // A THP fault that must not stall: no reclaim of either kind, a movable compound folio.
 * if (gfpflagsAllowBlocking(GFP_TRANSHUGE_LIGHT)) throw new Error("no direct reclaim");
 * if (!(GFP_TRANSHUGE_LIGHT & __GFP_COMP) || gfpMigratetype(GFP_TRANSHUGE_LIGHT) !== MIGRATE.MOVABLE) {
 *   throw new Error("movable folio");
 * }
 * ```
 */
export const GFP_TRANSHUGE_LIGHT: number =
  (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM;
/**
 * GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM.
 *
 * @example
 * ```ts
 * import { __GFP_KSWAPD_RECLAIM, GFP_TRANSHUGE, gfpflagsAllowBlocking } from "@mmsim/mmsim";
 * // defrag=always THP: direct reclaim/compaction allowed, but kswapd is not woken.
 * if (!gfpflagsAllowBlocking(GFP_TRANSHUGE)) throw new Error("may stall in direct compaction");
 * if ((GFP_TRANSHUGE & __GFP_KSWAPD_RECLAIM) !== 0) throw new Error("no kswapd wakeup");
 * ```
 */
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
 * Named combinations, in the order of include/trace/events/mmflags.h `__def_gfpflag_names`
 * (read in its `TRACE_GFP_FLAGS` form, a 2026 torvalds/linux copy): the most bits first, then
 * GFP_DMA, GFP_DMA32 and __GFP_RECLAIM, then the single bits in bit order ({@link GFP_NAMES}).
 * Older kernels list the same combinations but interleave the single bits in another order, so
 * their output can order the single-bit names differently; the names are the same.
 */
const GFP_COMBINATIONS: [number, string][] = [
  [GFP_TRANSHUGE, "GFP_TRANSHUGE"],
  [GFP_TRANSHUGE_LIGHT, "GFP_TRANSHUGE_LIGHT"],
  [GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"],
  [GFP_HIGHUSER, "GFP_HIGHUSER"],
  [GFP_USER, "GFP_USER"],
  [GFP_KERNEL | __GFP_ACCOUNT, "GFP_KERNEL_ACCOUNT"],
  [GFP_KERNEL, "GFP_KERNEL"],
  [GFP_NOFS, "GFP_NOFS"],
  [GFP_ATOMIC, "GFP_ATOMIC"],
  [GFP_NOIO, "GFP_NOIO"],
  [GFP_NOWAIT, "GFP_NOWAIT"],
  [__GFP_DMA, "GFP_DMA"],
  [__GFP_DMA32, "GFP_DMA32"],
  [__GFP_RECLAIM, "__GFP_RECLAIM"],
];

/**
 * Format GFP flags the way `%pGg` does: lib/vsprintf.c `format_flags()` over
 * include/trace/events/mmflags.h `__def_gfpflag_names`. Every entry whose bits are all
 * set is printed and its bits cleared, in table order — named combinations first (most bits
 * first: "GFP_KERNEL_ACCOUNT" before "GFP_KERNEL"), then the single bits. `0` prints as "0".
 *
 * @example
 * ```ts
 * import { __GFP_ACCOUNT, __GFP_COMP, GFP_KERNEL, GFP_NOFS, gfpToString } from "@mmsim/mmsim";
 * if (gfpToString(GFP_NOFS | __GFP_COMP) !== "GFP_NOFS|__GFP_COMP") throw new Error();
 * if (gfpToString(GFP_KERNEL | __GFP_ACCOUNT) !== "GFP_KERNEL_ACCOUNT") throw new Error();
 * ```
 */
export function gfpToString(gfp: number): string {
  const parts: string[] = [];
  let rest = gfp;
  for (const [mask, name] of GFP_COMBINATIONS) {
    if (rest !== 0 && (rest & mask) === mask) {
      parts.push(name);
      rest &= ~mask;
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

/**
 * PF_MEMALLOC (the engine's {@link TaskFlag}.MEMALLOC): reserves, no reclaim recursion.
 *
 * @example A reclaimer's own allocation uses the reserves
 * ```ts
 * import { allocPagesGfp, Engine, GFP_KERNEL, MIGRATE, Mm, PF_MEMALLOC } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } }); // WMARK_MIN is 64 pages
 * while (mm.zone.nrFreePages > 20) mm.zone.allocPages(0, MIGRATE.UNMOVABLE);
 * const got: number[] = [];
 * env.spawn("kswapd0", function* () { got.push(yield* allocPagesGfp(mm, 0, GFP_KERNEL)); }, { flags: PF_MEMALLOC });
 * env.run();
 * // ALLOC_NO_WATERMARKS: allocated below the min watermark, without recursing into reclaim.
 * if (!(got[0]! >= 0) || env.nowNs !== 0) throw new Error(`${got}`);
 * ```
 */
export const PF_MEMALLOC: number = TaskFlag.MEMALLOC;
/**
 * PF_MEMALLOC_NOIO (model bit 16): allocations in this scope lose __GFP_IO and __GFP_FS.
 *
 * @example
 * ```ts
 * import { currentGfpContext, Engine, GFP_KERNEL, GFP_NOIO, PF_MEMALLOC_NOFS, PF_MEMALLOC_NOIO } from "@mmsim/mmsim";
 * const env = new Engine();
 * let gfp = 0;
 * // NOIO wins over NOFS when both scopes are open.
 * env.spawn("t", function* () { gfp = currentGfpContext(env, GFP_KERNEL); }, { flags: PF_MEMALLOC_NOIO | PF_MEMALLOC_NOFS });
 * env.run();
 * if (gfp !== GFP_NOIO) throw new Error("PF_MEMALLOC_NOIO makes GFP_KERNEL into GFP_NOIO");
 * ```
 */
export const PF_MEMALLOC_NOIO: number = 1 << 16;
/**
 * PF_MEMALLOC_NOFS (model bit 17): allocations in this scope lose __GFP_FS.
 *
 * @example
 * ```ts
 * import { currentGfpContext, Engine, GFP_KERNEL, GFP_NOFS, memallocNofsRestore, memallocNofsSave, PF_MEMALLOC_NOFS } from "@mmsim/mmsim";
 * const env = new Engine();
 * let gfp = 0, flagged = false;
 * env.spawn("t", function* (_env, self) {
 *   const s = memallocNofsSave(env);
 *   flagged = self.hasFlag(PF_MEMALLOC_NOFS);
 *   gfp = currentGfpContext(env, GFP_KERNEL);
 *   memallocNofsRestore(env, s);
 * });
 * env.run();
 * if (!flagged || gfp !== GFP_NOFS) throw new Error("memalloc_nofs_save sets PF_MEMALLOC_NOFS");
 * ```
 */
export const PF_MEMALLOC_NOFS: number = 1 << 17;
/**
 * PF_MEMALLOC_PIN (model bit 18): allocations in this scope lose __GFP_MOVABLE.
 *
 * @example
 * ```ts
 * import { currentGfpContext, Engine, GFP_HIGHUSER, GFP_HIGHUSER_MOVABLE, gfpMigratetype, MIGRATE, PF_MEMALLOC_PIN } from "@mmsim/mmsim";
 * const env = new Engine();
 * let gfp = 0;
 * // FOLL_LONGTERM pinning: pages faulted in under the scope must not land in movable blocks.
 * env.spawn("pin_user_pages", function* () { gfp = currentGfpContext(env, GFP_HIGHUSER_MOVABLE); }, { flags: PF_MEMALLOC_PIN });
 * env.run();
 * if (gfp !== GFP_HIGHUSER || gfpMigratetype(gfp) !== MIGRATE.UNMOVABLE) throw new Error("__GFP_MOVABLE cleared");
 * ```
 */
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

/**
 * memalloc_nofs_restore(): end a scope begun by {@link memallocNofsSave}.
 *
 * @example
 * ```ts
 * import { currentGfpContext, Engine, GFP_KERNEL, GFP_NOFS, memallocNofsRestore, memallocNofsSave } from "@mmsim/mmsim";
 * const env = new Engine();
 * const seen: number[] = [];
 * env.spawn("t", function* () {
 *   const outer = memallocNofsSave(env);
 *   const inner = memallocNofsSave(env); // already NOFS: saves nothing
 *   memallocNofsRestore(env, inner);
 *   seen.push(currentGfpContext(env, GFP_KERNEL)); // still NOFS
 *   memallocNofsRestore(env, outer);
 *   seen.push(currentGfpContext(env, GFP_KERNEL)); // scope over
 * });
 * env.run();
 * if (seen[0] !== GFP_NOFS || seen[1] !== GFP_KERNEL) throw new Error(`${seen}`);
 * ```
 */
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

/**
 * memalloc_noio_restore().
 *
 * @example
 * ```ts
 * import { currentGfpContext, Engine, GFP_KERNEL, GFP_NOFS, GFP_NOIO, memallocNofsRestore, memallocNofsSave, memallocNoioRestore, memallocNoioSave } from "@mmsim/mmsim";
 * const env = new Engine();
 * const seen: number[] = [];
 * env.spawn("t", function* () {
 *   const nofs = memallocNofsSave(env);
 *   const noio = memallocNoioSave(env);
 *   seen.push(currentGfpContext(env, GFP_KERNEL));
 *   memallocNoioRestore(env, noio); // back to the enclosing NOFS scope
 *   seen.push(currentGfpContext(env, GFP_KERNEL));
 *   memallocNofsRestore(env, nofs);
 * });
 * env.run();
 * if (seen[0] !== GFP_NOIO || seen[1] !== GFP_NOFS) throw new Error(`${seen}`);
 * ```
 */
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

/**
 * memalloc_noreclaim_restore().
 *
 * @example
 * ```ts
 * import { Engine, memallocNoreclaimRestore, memallocNoreclaimSave, TaskFlag } from "@mmsim/mmsim";
 * const env = new Engine();
 * let after = false;
 * // kswapd runs with PF_MEMALLOC throughout; a nested noreclaim scope must not clear it.
 * env.spawn("kswapd0", function* (_env, self) {
 *   const s = memallocNoreclaimSave(env);
 *   memallocNoreclaimRestore(env, s);
 *   after = self.hasFlag(TaskFlag.MEMALLOC);
 * }, { flags: TaskFlag.MEMALLOC | TaskFlag.KSWAPD });
 * env.run();
 * if (!after) throw new Error("restore must keep a PF_MEMALLOC the task already had");
 * ```
 */
export function memallocNoreclaimRestore(env: Engine, flags: number): void {
  memallocFlagsRestore(env, flags);
}
