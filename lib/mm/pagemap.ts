/**
 * Per-mapping page-cache parameters and locks that the kernel keeps in include/linux/pagemap.h
 * and include/linux/fs.h: the FGP flags of `__filemap_get_folio` and `fgf_set_order`,
 * `mapping_gfp_mask` / `mapping_set_gfp_mask`, `mapping_min_folio_order` (v6.12),
 * `i_size_read` / `i_size_write` (in pages), and the mapping's `invalidate_lock`
 * (`filemap_invalidate_lock{,_shared}` and their unlock/trylock forms, v5.15+, Jan Kara).
 * Linux v6.10-era headers (tree b6273b55), v6.12 for the minimum order.
 *
 * The model keeps these beside the `AddressSpace` (weak maps keyed by it) rather than in it.
 *
 * Left out: other AS_* mapping flags (address_space.ts has the modelled ones), byte-granular
 * sizes.
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import { RwSem } from "../sim/sync.ts";
import type { AddressSpace } from "./address_space.ts";
import type { Mm } from "./mm.ts";
import { GFP_HIGHUSER_MOVABLE } from "./gfp.ts";

/**
 * FGP flags of `__filemap_get_folio` (include/linux/pagemap.h, v6.10): how a lookup behaves.
 * The folio order for FGP_CREAT travels in the top bits (`fgfSetOrder`).
 *
 * @example
 * ```ts
 * import { FGP } from "@mmsim/mmsim";
 * if (FGP.WRITEBEGIN !== (FGP.LOCK | FGP.WRITE | FGP.CREAT | FGP.STABLE)) throw new Error();
 * ```
 */
export const FGP = {
  /** Mark the folio accessed. */
  ACCESSED: 0x01,
  /** Return it locked (sleeps unless FGP_NOWAIT). */
  LOCK: 0x02,
  /** Create it (locked, added to the cache) if absent. */
  CREAT: 0x04,
  /** The caller will write to it (__GFP_WRITE). */
  WRITE: 0x08,
  /** Allocate without __GFP_FS. */
  NOFS: 0x10,
  /** Do not sleep on the lock or in the allocator: -EAGAIN instead. */
  NOWAIT: 0x20,
  /** For a fault: the new folio is returned unlocked. */
  FOR_MMAP: 0x40,
  /** Wait for the folio to be stable (folio_wait_stable: no writeback in progress). */
  STABLE: 0x80,
  /** FGP_LOCK | FGP_WRITE | FGP_CREAT | FGP_STABLE (write_begin). */
  WRITEBEGIN: 0x02 | 0x08 | 0x04 | 0x80,
} as const;

const FGF_ORDER_SHIFT = 26;

/**
 * fgf_set_order(): encode the preferred folio order for FGP_CREAT (the kernel takes a size in
 * bytes; the model takes the order).
 *
 * @example
 * ```ts
 * import { FGP, fgfSetOrder } from "@mmsim/mmsim";
 * const flags = FGP.LOCK | FGP.CREAT | fgfSetOrder(2);
 * if (((flags >>> 26) & 0x3f) !== 2) throw new Error();
 * ```
 */
export function fgfSetOrder(order: number): number {
  return (order & 0x3f) << FGF_ORDER_SHIFT;
}

/**
 * The preferred folio order encoded by {@link fgfSetOrder} (FGF_GET_ORDER).
 *
 * @example
 * ```ts
 * import { FGP, fgfGetOrder, fgfSetOrder } from "@mmsim/mmsim";
 * const fgp = FGP.WRITEBEGIN | fgfSetOrder(4); // write_begin asking for a 64 KiB folio
 * if (fgfGetOrder(fgp) !== 4) throw new Error("order round-trips");
 * if ((fgp & FGP.WRITEBEGIN) !== FGP.WRITEBEGIN) throw new Error("the order does not disturb the flags");
 * if (fgfGetOrder(FGP.LOCK | FGP.CREAT) !== 0) throw new Error("no order asked: 0");
 * ```
 */
export function fgfGetOrder(fgp: number): number {
  return (fgp >>> FGF_ORDER_SHIFT) & 0x3f;
}

const gfpMasks = new WeakMap<AddressSpace, number>();
const sizes = new WeakMap<AddressSpace, number>();

/**
 * mapping_gfp_mask(): the allocation flags for the mapping's folios (GFP_HIGHUSER_MOVABLE
 * unless set with {@link mappingSetGfpMask}).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mappingGfpMask, GFP_HIGHUSER_MOVABLE } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (mappingGfpMask(AddressSpace.create(mm, { name: "f" })) !== GFP_HIGHUSER_MOVABLE) throw new Error();
 * ```
 */
export function mappingGfpMask(mapping: AddressSpace): number {
  return gfpMasks.get(mapping) ?? GFP_HIGHUSER_MOVABLE;
}

/**
 * mapping_set_gfp_mask() (e.g. a filesystem that clears __GFP_FS for its page cache).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mappingSetGfpMask, mappingGfpMask, GFP_NOFS } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * mappingSetGfpMask(m, GFP_NOFS);
 * if (mappingGfpMask(m) !== GFP_NOFS) throw new Error();
 * ```
 */
export function mappingSetGfpMask(mapping: AddressSpace, gfp: number): void {
  gfpMasks.set(mapping, gfp);
}

/**
 * i_size_read() in pages: the file size set with {@link iSizeWrite}; a mapping whose size was
 * never set has no end of file (Infinity), and pages with no backing store read as holes.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, iSizeRead, iSizeWrite } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * if (iSizeRead(m) !== Infinity) throw new Error();
 * iSizeWrite(m, 8);
 * if (iSizeRead(m) !== 8) throw new Error();
 * ```
 */
export function iSizeRead(mapping: AddressSpace): number {
  return sizes.get(mapping) ?? Infinity;
}

/**
 * i_size_write() in pages.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapRead, folioEndRead, iSizeWrite, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio(mm, _m, f) { folioEndRead(mm, f, true); return 0; } } });
 * iSizeWrite(m, 2); // a two-page file
 * let pages = -1;
 * env.spawn("cat", function* () { const r = yield* filemapRead(mm, m, 0, 4); if (r.ok) pages = r.value.length; });
 * env.run();
 * if (pages !== 2) throw new Error(`a read past EOF is short: ${pages}`);
 * ```
 */
export function iSizeWrite(mapping: AddressSpace, pages: number): void {
  if (!(pages >= 0)) throw new RangeError(`i_size_write: ${mapping.name} size ${pages} < 0`);
  sizes.set(mapping, pages);
}

/**
 * mapping_min_folio_order() (AS_FOLIO_ORDER_MIN, v6.12): folios of the mapping are at least
 * this order.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mappingMinFolioOrder } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (mappingMinFolioOrder(AddressSpace.create(mm, { name: "f", minOrder: 2 })) !== 2) throw new Error();
 * ```
 */
export function mappingMinFolioOrder(mapping: AddressSpace): number {
  return mapping.minOrder;
}

const invalidateLocks = new WeakMap<AddressSpace, RwSem>();

/**
 * mapping->invalidate_lock: the rw-semaphore that keeps page-cache instantiation (shared:
 * reads, readahead, faults) out of a range being invalidated (exclusive: truncate, hole
 * punch).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mappingInvalidateLock } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * if (mappingInvalidateLock(m) !== mappingInvalidateLock(m)) throw new Error("one per mapping");
 * ```
 */
export function mappingInvalidateLock(mapping: AddressSpace): RwSem {
  let sem = invalidateLocks.get(mapping);
  if (!sem) {
    sem = new RwSem(`invalidate_lock of ${mapping.name}`);
    invalidateLocks.set(mapping, sem);
  }
  return sem;
}

/**
 * filemap_invalidate_lock(): take the invalidate lock exclusively (a filesystem truncating
 * or punching a hole). Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapInvalidateLock, filemapInvalidateUnlock, truncateInodePagesRange } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * env.spawn("setattr", function* () {
 *   yield* filemapInvalidateLock(mm, m);
 *   yield* truncateInodePagesRange(mm, m, 0, Infinity);
 *   filemapInvalidateUnlock(mm, m);
 * });
 * if (env.run().reason !== "done") throw new Error();
 * ```
 */
export function* filemapInvalidateLock(mm: Mm, mapping: AddressSpace): Process<void> {
  yield* mappingInvalidateLock(mapping).downWrite(mm.env);
}

/**
 * filemap_invalidate_unlock().
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapInvalidateLock, filemapInvalidateLockShared, filemapInvalidateUnlock, filemapInvalidateUnlockShared, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * let faultAt = -1;
 * env.spawn("truncate", function* (env) {
 *   yield* filemapInvalidateLock(mm, m);
 *   yield env.sleep(50);
 *   filemapInvalidateUnlock(mm, m); // lets the waiting fault in
 * });
 * env.spawn("fault", function* (env) {
 *   yield env.sleep(1);
 *   yield* filemapInvalidateLockShared(mm, m);
 *   faultAt = env.nowNs;
 *   filemapInvalidateUnlockShared(mm, m);
 * });
 * env.run();
 * if (faultAt !== 50) throw new Error(`fault ran at ${faultAt}`);
 * ```
 */
export function filemapInvalidateUnlock(mm: Mm, mapping: AddressSpace): void {
  mappingInvalidateLock(mapping).upWrite(mm.env);
}

/**
 * filemap_invalidate_lock_shared(). Use with `yield*`.
 *
 * @example Truncation waits for a reader that holds the invalidate lock shared
 * ```ts
 * import { AddressSpace, Engine, filemapInvalidateLock, filemapInvalidateLockShared, filemapInvalidateUnlock, filemapInvalidateUnlockShared, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const log: string[] = [];
 * env.spawn("reader", function* (env) {
 *   yield* filemapInvalidateLockShared(mm, m); // instantiating page cache
 *   yield env.sleep(10);
 *   log.push(`read done @${env.nowNs}`);
 *   filemapInvalidateUnlockShared(mm, m);
 * });
 * env.spawn("truncate", function* (env) {
 *   yield env.sleep(1);
 *   yield* filemapInvalidateLock(mm, m);
 *   log.push(`truncate @${env.nowNs}`);
 *   filemapInvalidateUnlock(mm, m);
 * });
 * env.run();
 * if (log.join() !== "read done @10,truncate @10") throw new Error(log.join());
 * ```
 */
export function* filemapInvalidateLockShared(mm: Mm, mapping: AddressSpace): Process<void> {
  yield* mappingInvalidateLock(mapping).downRead(mm.env);
}

/**
 * filemap_invalidate_trylock_shared(): take it shared if that needs no sleep (no writer
 * holds it or waits for it).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapInvalidateLock, filemapInvalidateTrylockShared, filemapInvalidateUnlock, filemapInvalidateUnlockShared, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const got: boolean[] = [];
 * env.spawn("punch hole", function* (env) {
 *   yield* filemapInvalidateLock(mm, m);
 *   yield env.sleep(10);
 *   filemapInvalidateUnlock(mm, m);
 * });
 * env.spawn("IOCB_NOWAIT read", function* (env) {
 *   yield env.sleep(1);
 *   got.push(yield* filemapInvalidateTrylockShared(mm, m)); // a writer holds it: -EAGAIN
 *   yield env.sleep(20);
 *   const ok = yield* filemapInvalidateTrylockShared(mm, m);
 *   got.push(ok);
 *   if (ok) filemapInvalidateUnlockShared(mm, m);
 * });
 * env.run();
 * if (got.join() !== "false,true") throw new Error(`${got}`);
 * ```
 */
export function* filemapInvalidateTrylockShared(
  mm: Mm,
  mapping: AddressSpace,
): Process<boolean> {
  const sem = mappingInvalidateLock(mapping);
  if (sem.writer !== null || sem.queue.waiters.length > 0) return false;
  yield* sem.downRead(mm.env); // does not sleep
  return true;
}

/**
 * filemap_invalidate_unlock_shared().
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapInvalidateLock, filemapInvalidateLockShared, filemapInvalidateUnlock, filemapInvalidateUnlockShared, mappingInvalidateLock, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * let truncateAt = -1;
 * for (const [name, ns] of [["read", 10], ["readahead", 30]] as const) {
 *   env.spawn(name, function* (env) {
 *     yield* filemapInvalidateLockShared(mm, m); // readers share it
 *     yield env.sleep(ns);
 *     filemapInvalidateUnlockShared(mm, m);
 *   });
 * }
 * env.spawn("truncate", function* (env) {
 *   yield env.sleep(1);
 *   yield* filemapInvalidateLock(mm, m);
 *   truncateAt = env.nowNs; // after the last shared holder left
 *   filemapInvalidateUnlock(mm, m);
 * });
 * env.run();
 * if (truncateAt !== 30 || mappingInvalidateLock(m).writer !== null) throw new Error(`${truncateAt}`);
 * ```
 */
export function filemapInvalidateUnlockShared(mm: Mm, mapping: AddressSpace): void {
  mappingInvalidateLock(mapping).upRead(mm.env);
}
