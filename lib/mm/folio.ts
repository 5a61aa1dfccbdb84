/**
 * Folios: flags, reference counts, the folio lock and bit waits, freeing.
 *
 * Follows include/linux/page-flags.h (flag tests), include/linux/mm.h (`folio_get`,
 * `folio_put`, `folio_expected_ref_count` as of v6.16), include/linux/page_ref.h
 * (`folio_ref_freeze`/`unfreeze`), include/linux/pagemap.h and mm/filemap.c (`folio_lock`,
 * `folio_trylock`, `folio_unlock`, `folio_wait_bit`, `folio_end_read`, `folio_wake_bit`; read
 * at the v6.10-era tree b6273b55, whose folio_end_read still has the unconditional
 * VM_BUG_ON_FOLIO(folio_test_uptodate), not checked here), and
 * mm/page_alloc.c `free_pages_prepare()` / `page_expected_state()` for what may not be freed
 * (PAGE_FLAGS_CHECK_AT_FREE: PG_lru, PG_locked, PG_private, PG_private_2, PG_writeback,
 * PG_reserved, PG_active, PG_unevictable, PG_mlocked; a mapping; a mapcount).
 *
 * A folio is its head pfn. Bit waits go through the hashed table of `mm.waitTable`, keyed by
 * the frame, so a wake issued for a frame's previous use reaches waiters of its new use.
 *
 * Lock order (as mm/filemap.c draws it, the parts modelled):
 *   folio lock (PG_locked)
 *     → mapping->i_pages lock (implicit: a step is atomic)
 *       → folio wait-table bucket lock (implicit)
 *
 * Left out: RCU lookups and speculative references (a step is atomic, so `folio_try_get` on a
 * frame with refcount 0 simply fails), hugetlb and zone-device folio_put paths, memcg.
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import { NIL, PG } from "./memory.ts";
import { bitName, type FolioRef, type Mm } from "./mm.ts";
import { folioClearLruFlags, lruvecDelFolio } from "./lru.ts";
import { MIGRATE } from "./memory.ts";

/** Flags that must be clear when a folio is freed (PAGE_FLAGS_CHECK_AT_FREE). */
const CHECK_AT_FREE = [
  PG.lru,
  PG.locked,
  PG.private,
  PG.private_2,
  PG.writeback,
  PG.reserved,
  PG.active,
  PG.unevictable,
  PG.mlocked,
] as const;

/**
 * folio_test_*: test one PG bit of a folio.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioTestFlag, folioSetFlag, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioSetFlag(mm, f, PG.uptodate);
 * if (!folioTestFlag(mm, f, PG.uptodate)) throw new Error("flag");
 * ```
 */
export function folioTestFlag(mm: Mm, folio: number, bit: number): boolean {
  return ((mm.mem.flags[folio]! >>> bit) & 1) === 1;
}

/**
 * folio_set_*: set one PG bit.
 *
 * @example PG_readahead and PG_reclaim are one bit
 * ```ts
 * import { Engine, folioAlloc, folioSetFlag, folioTestFlag, Mm, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioSetFlag(mm, f, PG.reclaim); // reclaim marks a folio under writeback…
 * if (!folioTestFlag(mm, f, PG.readahead)) throw new Error("…and it reads back as PG_readahead");
 * ```
 */
export function folioSetFlag(mm: Mm, folio: number, bit: number): void {
  mm.mem.flags[folio]! |= 1 << bit;
}

/**
 * folio_clear_*: clear one PG bit.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioClearFlag, folioSetFlag, folioTestDirty, folioTestUptodate, Mm, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioSetFlag(mm, f, PG.uptodate);
 * folioSetFlag(mm, f, PG.dirty);
 * folioClearFlag(mm, f, PG.dirty); // clears one bit only
 * if (folioTestDirty(mm, f) || !folioTestUptodate(mm, f)) throw new Error("PG_uptodate must stay");
 * ```
 */
export function folioClearFlag(mm: Mm, folio: number, bit: number): void {
  mm.mem.flags[folio]! &= ~(1 << bit);
}

/**
 * folio_test_locked.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioTestLocked, folioTrylock, folioUnlock, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * if (folioTestLocked(mm, f)) throw new Error("a new folio is unlocked");
 * folioTrylock(mm, f);
 * if (!folioTestLocked(mm, f)) throw new Error("PG_locked after trylock");
 * folioUnlock(mm, f);
 * if (folioTestLocked(mm, f)) throw new Error("unlocked again");
 * ```
 */
export function folioTestLocked(mm: Mm, folio: number): boolean {
  return folioTestFlag(mm, folio, PG.locked);
}

/**
 * folio_test_uptodate.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioEndRead, folioTestUptodate, folioTrylock, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const ok = folioAlloc(mm, 0), failed = folioAlloc(mm, 0);
 * for (const f of [ok, failed]) folioTrylock(mm, f); // locked, !uptodate: a read in flight
 * folioEndRead(mm, ok, true);
 * folioEndRead(mm, failed, false); // an I/O error leaves the folio !uptodate
 * if (!folioTestUptodate(mm, ok) || folioTestUptodate(mm, failed)) throw new Error("uptodate");
 * ```
 */
export function folioTestUptodate(mm: Mm, folio: number): boolean {
  return folioTestFlag(mm, folio, PG.uptodate);
}

/**
 * folio_test_dirty.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, folioMarkDirty, folioTestDirty, Mm, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, AddressSpace.create(mm, { name: "file" }), f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * if (folioTestDirty(mm, f)) throw new Error("clean after the read");
 * folioMarkDirty(mm, f);
 * if (!folioTestDirty(mm, f) || mm.vmstat.get("nr_dirty") !== 1) throw new Error("dirty and accounted");
 * ```
 */
export function folioTestDirty(mm: Mm, folio: number): boolean {
  return folioTestFlag(mm, folio, PG.dirty);
}

/**
 * folio_test_writeback.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioEndWriteback, folioStartWriteback, folioTestWriteback, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioStartWriteback(mm, f);
 * if (!folioTestWriteback(mm, f)) throw new Error("PG_writeback set at submission");
 * env.spawn("end_io", function* () { yield* folioEndWriteback(mm, f); });
 * env.run();
 * if (folioTestWriteback(mm, f)) throw new Error("cleared at completion");
 * ```
 */
export function folioTestWriteback(mm: Mm, folio: number): boolean {
  return folioTestFlag(mm, folio, PG.writeback);
}

/**
 * folio_test_anon: folio->mapping names an anon_vma (PAGE_MAPPING_ANON), not a file's address
 * space; a folio with no mapping is anonymous if PG_swapbacked is set.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioTestAnon, AddressSpace, filemapAddFolio } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, AddressSpace.create(mm, { name: "file" }), f, 0);
 * if (folioTestAnon(mm, f)) throw new Error("a page-cache folio is not anonymous");
 * ```
 */
export function folioTestAnon(mm: Mm, folio: number): boolean {
  const id = mm.mem.mapping[folio]!;
  if (id === 0) return mm.mem.testFlag(folio, PG.swapbacked);
  return !mm.isFileMapping(id);
}

/**
 * folio_order.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioOrder, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 3);
 * if (folioOrder(mm, f) !== 3) throw new Error("an order-3 folio");
 * if (mm.mem.compoundHead(f + 7) !== f) throw new Error("its 8th page belongs to it");
 * ```
 */
export function folioOrder(mm: Mm, folio: number): number {
  return mm.mem.order[folio]!;
}

/**
 * folio_ref_count.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, folioRefCount, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 2);
 * if (folioRefCount(mm, f) !== 1) throw new Error("the allocator's reference");
 * filemapAddFolio(mm, AddressSpace.create(mm, { name: "file", maxOrder: 2 }), f, 0);
 * if (folioRefCount(mm, f) !== 5) throw new Error("+ one page-cache reference per page");
 * ```
 */
export function folioRefCount(mm: Mm, folio: number): number {
  return mm.mem.refcount[folio]!;
}

/**
 * folio_mapcount (not biased: 0 = unmapped).
 *
 * @example
 * ```ts
 * import { Engine, folioMapcount, Mm, mmapRegion, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 1 });
 * env.spawn("user", function* () { yield* userStore(mm, vma, 0); }); // do_anonymous_page
 * env.run();
 * const page = vma.pteOf(0);
 * if (folioMapcount(mm, page) !== 1) throw new Error("one PTE maps it");
 * ```
 */
export function folioMapcount(mm: Mm, folio: number): number {
  return mm.mem.mapcount[folio]!;
}

/**
 * folio_mapped.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioGet, folioMapped, Mm, mmapRegion, tryToMigrate, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * if (folioMapped(mm, folioAlloc(mm, 0))) throw new Error("a new folio is not mapped");
 * const vma = mmapRegion(mm, { nrPages: 1 });
 * env.spawn("user", function* () { yield* userStore(mm, vma, 0); });
 * env.run();
 * const page = vma.pteOf(0);
 * folioGet(mm, page); // the migrator's reference
 * if (!folioMapped(mm, page)) throw new Error("mapped by the store");
 * // try_to_migrate replaces every PTE by a migration entry.
 * if (!tryToMigrate(mm, page) || folioMapped(mm, page)) throw new Error("unmapped for migration");
 * ```
 */
export function folioMapped(mm: Mm, folio: number): boolean {
  return mm.mem.mapcount[folio]! > 0;
}

/**
 * Allocate a folio of `order` (`folio_alloc` without reclaim: `__alloc_pages` fast path).
 * Returns the head pfn with refcount 1 and a new generation, or -1. The slow path with direct
 * reclaim and compaction is `allocPagesGfp` / `folioAllocGfp` in page_alloc.ts.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioRefCount } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 2);
 * if (folioRefCount(mm, f) !== 1) throw new Error("a new folio has one reference");
 * ```
 */
export function folioAlloc(
  mm: Mm,
  order: number,
  migratetype: number = MIGRATE.MOVABLE,
): number {
  const pfn = mm.zone.allocPages(order, migratetype, true);
  if (pfn === NIL) return NIL;
  mm.vmstat.inc("pgalloc", 1 << order);
  mm.env.emit("mm_page_alloc", pfn, null, { order, gen: mm.mem.generation[pfn] });
  return pfn;
}

/**
 * folio_get: take a reference. Getting a folio whose refcount is 0 is the kernel's
 * VM_BUG_ON_FOLIO(folio_ref_zero_or_close_to_overflow) — recorded as a violation.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioGet, folioPut, folioRefCount, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioGet(mm, f);
 * if (folioRefCount(mm, f) !== 2) throw new Error("two references");
 * folioPut(mm, f);
 * folioPut(mm, f); // the last one: freed
 * folioGet(mm, f); // a reference on a free folio is a model bug in the caller
 * if (env.violations[0]?.name !== "folio_get on a free folio") throw new Error("must be reported");
 * ```
 */
export function folioGet(mm: Mm, folio: number): void {
  const rc = mm.mem.refcount;
  if (rc[folio]! <= 0) {
    mm.env.violation(
      "folio_get on a free folio",
      `folio_get: ${mm.describeFolio(folio)} has refcount ${rc[folio]}`,
    );
    return;
  }
  rc[folio]!++;
}

/**
 * folio_try_get: take a reference unless the refcount is 0 (frozen or free).
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioRefFreeze, folioRefUnfreeze, folioTryGet, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * if (!folioTryGet(mm, f)) throw new Error("a live folio");
 * folioRefFreeze(mm, f, 2); // migration froze it at the expected count
 * if (folioTryGet(mm, f)) throw new Error("a frozen folio hands out no reference");
 * folioRefUnfreeze(mm, f, 2);
 * ```
 */
export function folioTryGet(mm: Mm, folio: number): boolean {
  const rc = mm.mem.refcount;
  if (rc[folio]! <= 0) return false;
  rc[folio]!++;
  return true;
}

/**
 * folio_ref_add: take `n` references.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioPutRefs, folioRefAdd, folioRefCount, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 2);
 * folioRefAdd(mm, f, 1 << 2); // __filemap_add_folio: one reference per page
 * if (folioRefCount(mm, f) !== 5) throw new Error("1 + 4");
 * folioPutRefs(mm, f, 4); // __filemap_remove_folio drops them again
 * if (folioRefCount(mm, f) !== 1) throw new Error("back to the caller's own");
 * ```
 */
export function folioRefAdd(mm: Mm, folio: number, n: number): void {
  mm.mem.refcount[folio]! += n;
}

/**
 * folio_put: drop a reference; the last one frees the folio (`__folio_put`): off the LRU,
 * checked like `free_pages_prepare()` and returned to the buddy allocator. A folio whose
 * refcount would go below zero, or that is freed while locked, under writeback, mapped, or
 * still in the page cache, is a "bad page" violation and is not freed (the kernel leaks it).
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioGet, folioPut, folioRefCount } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioGet(mm, f);
 * folioPut(mm, f);
 * if (folioRefCount(mm, f) !== 1) throw new Error("still held once");
 * ```
 */
export function folioPut(mm: Mm, folio: number): void {
  folioPutRefs(mm, folio, 1);
}

/**
 * folio_put_refs: drop `n` references.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioPutRefs, folioRefAdd, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 2);
 * folioRefAdd(mm, f, 3);
 * folioPutRefs(mm, f, 4); // the last references: back to the buddy allocator
 * if (mm.zone.nrFreePages !== 64) throw new Error("freed");
 * folioPutRefs(mm, f, 1); // one put too many
 * if (env.violations[0]?.name !== "refcount underflow") throw new Error("underflow reported");
 * ```
 */
export function folioPutRefs(mm: Mm, folio: number, n: number): void {
  const rc = mm.mem.refcount;
  const before = rc[folio]!;
  if (before - n < 0 || before <= 0) {
    mm.env.violation(
      "refcount underflow",
      `folio_put: ${mm.describeFolio(folio)} refcount ${before} − ${n} < 0`,
    );
    return;
  }
  rc[folio] = before - n;
  if (before - n === 0) __folioPut(mm, folio);
}

/**
 * __folio_put (mm/swap.c): the refcount reached zero — off the LRU, checked as
 * free_pages_prepare() does, back to the buddy allocator. Callers that dropped the last
 * reference themselves (lib/mm/lru.ts's putback path) call it directly.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, __folioPut } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * mm.mem.refcount[f] = 0; // the last reference was dropped elsewhere
 * __folioPut(mm, f);
 * if (mm.zone.nrFreePages !== 64) throw new Error("freed");
 * ```
 */
export function __folioPut(mm: Mm, folio: number): void {
  const mem = mm.mem;
  // page_cache_release(): off the LRU first (folio_put does this before the checks).
  if (mem.testFlag(folio, PG.lru)) {
    lruvecDelFolio(mm.lruvec, folio);
    folioClearLruFlags(mem, folio);
  }
  // free_pages_prepare(): "if (PageMappingFlags(page)) page->mapping = NULL" — an anonymous
  // folio's anon_vma pointer is simply dropped; a file mapping left set is a bad page.
  if (mem.mapping[folio] !== 0 && !mm.isFileMapping(mem.mapping[folio]!)) mem.mapping[folio] = 0;
  const bad: string[] = [];
  for (const bit of CHECK_AT_FREE) if (mem.testFlag(folio, bit)) bad.push(`PG_${bitName(bit)}`);
  if (mem.mapping[folio] !== 0) bad.push("non-NULL mapping");
  if (mem.mapcount[folio] !== 0) bad.push(`mapcount ${mem.mapcount[folio]}`);
  if (bad.length > 0) {
    mem.refcount[folio] = 0;
    mm.env.violation(
      "bad_page",
      `BUG: Bad page state: ${mm.describeFolio(folio)} freed with ${bad.join(", ")}`,
    );
    return;
  }
  const order = mem.order[folio]!;
  const n = 1 << order;
  // Flags are reset at free (PAGE_FLAGS_CHECK_AT_PREP); tails lose their head pointer.
  for (let i = folio; i < folio + n; i++) {
    mem.flags[i] = 0;
    mem.head[i] = NIL;
    mem.index[i] = 0;
    mem.private[i] = 0;
  }
  mem.order[folio] = 0;
  for (const fn of mm.onFree) fn(folio, order);
  mm.vmstat.inc("pgfree", n);
  mm.env.emit("mm_page_free", folio, null, { order });
  mm.zone.freePages(folio, order);
}

/**
 * folio_ref_freeze: if the refcount equals `count`, set it to 0 (no one can take a new
 * reference) and return true. Migration and split freeze at the expected count.
 *
 * @example Migration freezes at the expected count; an extra reference makes it fail
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, folioExpectedRefCount, folioGet, folioRefFreeze, folioRefUnfreeze, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, AddressSpace.create(mm, { name: "file" }), f, 0);
 * const expected = folioExpectedRefCount(mm, f) + 1; // page cache + the migrator's own
 * if (!folioRefFreeze(mm, f, expected)) throw new Error("nobody else holds it");
 * folioRefUnfreeze(mm, f, expected);
 * folioGet(mm, f); // e.g. a pipe buffer from splice
 * if (folioRefFreeze(mm, f, expected)) throw new Error("an unexpected reference must make it fail (-EAGAIN)");
 * ```
 */
export function folioRefFreeze(mm: Mm, folio: number, count: number): boolean {
  const rc = mm.mem.refcount;
  if (rc[folio] !== count) return false;
  rc[folio] = 0;
  return true;
}

/**
 * folio_ref_unfreeze: set a frozen refcount back to `count`.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioRefCount, folioRefFreeze, folioRefUnfreeze, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioRefFreeze(mm, f, 1);
 * folioRefUnfreeze(mm, f, 1); // migration failed: give the references back
 * if (folioRefCount(mm, f) !== 1) throw new Error("restored");
 * let threw = false;
 * try {
 *   folioRefUnfreeze(mm, f, 1); // not frozen: a model bug
 * } catch {
 *   threw = true;
 * }
 * if (!threw) throw new Error("unfreezing a live folio must throw");
 * ```
 */
export function folioRefUnfreeze(mm: Mm, folio: number, count: number): void {
  const rc = mm.mem.refcount;
  if (rc[folio] !== 0) {
    throw new Error(`folio_ref_unfreeze: ${mm.describeFolio(folio)} is not frozen`);
  }
  rc[folio] = count;
}

/**
 * folio_expected_ref_count (include/linux/mm.h, v6.16): references the kernel can account
 * for — one per page from the page cache, one for PG_private (for any folio that is not
 * anonymous, in the page cache or not), one per mapping — not counting the caller's own.
 * Anonymous folios: mappings only (no swap cache here). PG_private_2 is not counted; before
 * v6.0 migration's expected_page_refs() counted page_has_private() (PG_private or PG_private_2)
 * once, and only for a folio with a mapping (era switch `migrateCountsPrivate2`).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, folioExpectedRefCount, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 2);
 * mm.mem.mapping[f] = AddressSpace.create(mm, { name: "file", maxOrder: 2 }).id; // 4 cache refs
 * mm.mem.setFlag(f, PG.private);       // attached private data: +1
 * if (folioExpectedRefCount(mm, f) !== 5) throw new Error("expected 5");
 * ```
 */
export function folioExpectedRefCount(mm: Mm, folio: number): number {
  const mem = mm.mem;
  let n = 0;
  // Anonymous folios: one reference per page from the swap cache (not modelled) + mappings.
  if (!folioTestAnon(mm, folio)) {
    const inCache = mm.isFileMapping(mem.mapping[folio]!);
    // One reference per page from the page cache (!!folio->mapping << order).
    if (inCache) n += 1 << mem.order[folio]!;
    if (mm.era.migrateCountsPrivate2) {
      // Before v6.0 (expected_page_refs): `if (mapping) += nr + page_has_private()`.
      if (inCache && (mem.testFlag(folio, PG.private) || mem.testFlag(folio, PG.private_2))) {
        n += 1;
      }
    } else if (mem.testFlag(folio, PG.private)) {
      n += 1; // One reference from PG_private, with or without a mapping (v6.16).
    }
  }
  return n + mem.mapcount[folio]!;
}

/**
 * folio_attach_private: store `data` in folio->private, set PG_private and take a reference.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioAttachPrivate, folioGetPrivate, folioRefCount, Mm, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 2);
 * folioAttachPrivate(mm, f, { uptodateBlocks: 0b1111 }); // e.g. an iomap_folio_state
 * if (!mm.mem.testFlag(f, PG.private) || folioRefCount(mm, f) !== 2) throw new Error("PG_private holds a reference");
 * if (folioGetPrivate<{ uptodateBlocks: number }>(mm, f)?.uptodateBlocks !== 0b1111) throw new Error("data");
 * ```
 */
export function folioAttachPrivate(mm: Mm, folio: number, data: unknown): void {
  if (mm.mem.testFlag(folio, PG.private)) {
    throw new Error(`folio_attach_private: ${mm.describeFolio(folio)} already has private data`);
  }
  folioGet(mm, folio);
  mm.mem.private[folio] = mm.storePrivate(data);
  mm.mem.setFlag(folio, PG.private);
}

/**
 * folio_get_private: the data attached to the folio, or undefined.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioAttachPrivate, folioGetPrivate, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * if (folioGetPrivate(mm, f) !== undefined) throw new Error("no private data yet");
 * folioAttachPrivate(mm, f, "buffer heads");
 * if (folioGetPrivate<string>(mm, f) !== "buffer heads") throw new Error("folio->private");
 * ```
 */
export function folioGetPrivate<T = unknown>(mm: Mm, folio: number): T | undefined {
  const h = mm.mem.private[folio]!;
  return h === 0 ? undefined : (mm.privates.get(h) as T);
}

/**
 * folio_detach_private: clear PG_private, drop its reference, return the data.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioAttachPrivate, folioDetachPrivate, folioRefCount, Mm, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioAttachPrivate(mm, f, { blocks: 4 });
 * const data = folioDetachPrivate<{ blocks: number }>(mm, f); // ->release_folio
 * if (data?.blocks !== 4 || mm.mem.testFlag(f, PG.private) || folioRefCount(mm, f) !== 1) {
 *   throw new Error("PG_private and its reference are gone");
 * }
 * if (folioDetachPrivate(mm, f) !== undefined) throw new Error("nothing left to detach");
 * ```
 */
export function folioDetachPrivate<T = unknown>(mm: Mm, folio: number): T | undefined {
  if (!mm.mem.testFlag(folio, PG.private)) return undefined;
  const data = folioGetPrivate<T>(mm, folio);
  mm.privates.delete(mm.mem.private[folio]!);
  mm.mem.private[folio] = 0;
  mm.mem.clearFlag(folio, PG.private);
  folioPut(mm, folio);
  return data;
}

/**
 * folio_change_private-style move used by migration: the data moves, references stay.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioAttachPrivate, folioGetPrivate, folioMovePrivate, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
 * folioAttachPrivate(mm, src, "fs state");
 * folioMovePrivate(mm, dst, src); // migration: the data follows the contents
 * if (folioGetPrivate(mm, dst) !== "fs state" || folioGetPrivate(mm, src) !== undefined) {
 *   throw new Error("moved");
 * }
 * ```
 */
export function folioMovePrivate(mm: Mm, dst: number, src: number): void {
  const mem = mm.mem;
  mem.private[dst] = mem.private[src]!;
  mem.private[src] = 0;
}

// ------------------------------------------------------------------ the folio lock

/**
 * folio_trylock: take PG_locked if it is clear.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioTrylock } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * if (!folioTrylock(mm, f) || folioTrylock(mm, f)) throw new Error("trylock");
 * ```
 */
export function folioTrylock(mm: Mm, folio: number): boolean {
  if (mm.mem.testAndSetFlag(folio, PG.locked)) return false;
  mm.setBitHolder(folio, PG.locked, mm.env.current);
  return true;
}

/**
 * folio_lock: sleep until PG_locked can be taken (an EXCLUSIVE bit wait in the hashed table).
 * Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioLock, folioTestLocked, folioUnlock, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * const order: string[] = [];
 * for (const n of ["a", "b"]) {
 *   env.spawn(n, function* (env) {
 *     yield* folioLock(mm, f); // b sleeps here until a unlocks
 *     order.push(`${n}@${env.nowNs}`);
 *     yield env.sleep(10);
 *     folioUnlock(mm, f);
 *   });
 * }
 * env.run();
 * if (order.join() !== "a@0,b@10" || folioTestLocked(mm, f)) throw new Error(`${order}`);
 * ```
 */
export function* folioLock(mm: Mm, folio: number): Process<void> {
  if (folioTrylock(mm, folio)) return;
  mm.env.emit("folio_lock_wait", folio);
  yield* mm.waitTable.waitBit(mm.env, folio, PG.locked, "EXCLUSIVE");
  mm.setBitHolder(folio, PG.locked, mm.env.current);
}

/**
 * folio_unlock: clear PG_locked and wake waiters if PG_waiters is set
 * (folio_xor_flags_has_waiters + folio_wake_bit).
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioLock, folioTrylock, folioUnlock, Mm, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioTrylock(mm, f);
 * env.spawn("waiter", function* () { yield* folioLock(mm, f); folioUnlock(mm, f); });
 * env.spawn("owner", function* (env) {
 *   yield env.sleep(5);
 *   if (!mm.mem.testFlag(f, PG.waiters)) throw new Error("the waiter set PG_waiters");
 *   folioUnlock(mm, f); // clears PG_locked and wakes the waiter
 * });
 * env.run();
 * if (mm.mem.testFlag(f, PG.waiters) || mm.mem.testFlag(f, PG.locked)) throw new Error("all clear");
 * ```
 */
export function folioUnlock(mm: Mm, folio: number): void {
  const mem = mm.mem;
  if (!mem.testFlag(folio, PG.locked)) {
    throw new Error(`folio_unlock: ${mm.describeFolio(folio)} is not locked`);
  }
  mem.clearFlag(folio, PG.locked);
  mm.setBitHolder(folio, PG.locked, null);
  if (mem.testFlag(folio, PG.waiters)) mm.waitTable.wakeBit(folio, PG.locked);
}

/**
 * folio_end_read: set PG_uptodate (on success) and clear PG_locked in ONE atomic step, then
 * wake lock waiters. Never two steps: that would create races the kernel does not have.
 *
 * @example Set uptodate and unlock in one step: a waiter never sees unlocked-but-not-uptodate
 * ```ts
 * import { Engine, folioAlloc, folioEndRead, folioLock, folioTestUptodate, folioTrylock, folioUnlock, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioTrylock(mm, f); // a read is in flight
 * let sawUptodate = false;
 * env.spawn("reader", function* () {
 *   yield* folioLock(mm, f);
 *   sawUptodate = folioTestUptodate(mm, f);
 *   folioUnlock(mm, f);
 * });
 * env.spawn("end_io", function* (env) { yield env.sleep(100_000); folioEndRead(mm, f, true); });
 * env.run();
 * if (!sawUptodate) throw new Error("the lock holder after the read must see PG_uptodate");
 * ```
 */
export function folioEndRead(mm: Mm, folio: number, success: boolean): void {
  const mem = mm.mem;
  if (!mem.testFlag(folio, PG.locked)) {
    throw new Error(`folio_end_read: ${mm.describeFolio(folio)} is not locked`);
  }
  if (success) mem.setFlag(folio, PG.uptodate);
  mem.clearFlag(folio, PG.locked);
  mm.setBitHolder(folio, PG.locked, null);
  mm.env.emit("folio_end_read", folio, null, success ? "uptodate" : "error");
  if (mem.testFlag(folio, PG.waiters)) mm.waitTable.wakeBit(folio, PG.locked);
}

/**
 * folio_wait_bit: sleep until woken for `bit` of `folio` (SHARED). Returns after the first
 * wake without re-checking — the bit may be set again (see folio_wait_writeback).
 *
 * @example Woken once, without re-checking: the bit may be set again
 * ```ts
 * import { Engine, folioAlloc, folioWaitBit, folioWakeBit, Mm, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * mm.mem.setFlag(f, PG.writeback);
 * let setOnReturn = false;
 * env.spawn("waiter", function* () {
 *   yield* folioWaitBit(mm, f, PG.writeback);
 *   setOnReturn = mm.mem.testFlag(f, PG.writeback);
 * });
 * env.spawn("end_io", function* (env) {
 *   yield env.sleep(1);
 *   mm.mem.clearFlag(f, PG.writeback);
 *   mm.mem.setFlag(f, PG.writeback); // a new writeback starts before the wake arrives
 *   folioWakeBit(mm, f, PG.writeback);
 * });
 * env.run();
 * if (!setOnReturn) throw new Error("folio_wait_bit returns on the wake; callers that need the bit clear loop");
 * ```
 */
export function* folioWaitBit(mm: Mm, folio: number, bit: number): Process<boolean> {
  return yield* mm.waitTable.waitBit(mm.env, folio, bit, "SHARED");
}

/**
 * folio_wait_locked: wait for PG_locked to clear (once). Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioTestLocked, folioTrylock, folioUnlock, folioWaitLocked, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioTrylock(mm, f);
 * let at = -1, locked = true;
 * env.spawn("waiter", function* (env) {
 *   yield* folioWaitLocked(mm, f); // waits for the unlock without taking the lock
 *   at = env.nowNs;
 *   locked = folioTestLocked(mm, f);
 * });
 * env.spawn("owner", function* (env) { yield env.sleep(20); folioUnlock(mm, f); });
 * env.run();
 * if (at !== 20 || locked) throw new Error(`woken at ${at}`);
 * ```
 */
export function* folioWaitLocked(mm: Mm, folio: number): Process<void> {
  if (mm.mem.testFlag(folio, PG.locked)) yield* folioWaitBit(mm, folio, PG.locked);
}

/**
 * folio_wake_bit: wake the waiters of (folio, bit) in the hashed table.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioWaitBit, folioWakeBit, Mm, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * mm.mem.setFlag(f, PG.writeback);
 * const woken: number[] = [];
 * for (const n of ["a", "b"]) env.spawn(n, function* () { yield* folioWaitBit(mm, f, PG.writeback); });
 * env.spawn("end_io", function* (env) {
 *   yield env.sleep(1);
 *   mm.mem.clearFlag(f, PG.writeback);
 *   woken.push(folioWakeBit(mm, f, PG.writeback)); // non-exclusive: every waiter
 *   woken.push(folioWakeBit(mm, f, PG.writeback)); // nobody left
 * });
 * env.run();
 * if (woken.join() !== "2,0" || mm.mem.testFlag(f, PG.waiters)) throw new Error(`${woken}`);
 * ```
 */
export function folioWakeBit(mm: Mm, folio: number, bit: number): number {
  return mm.waitTable.wakeBit(folio, bit);
}

/**
 * True while a stale-safe reference still names a live use of its frame.
 *
 * @example A stale-safe reference notices that its frame was freed
 * ```ts
 * import { Engine, folioAlloc, folioPut, folioRefLive, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * const ref = mm.ref(f); // pfn + generation
 * if (!folioRefLive(mm, ref)) throw new Error("live");
 * folioPut(mm, f);
 * if (folioRefLive(mm, ref)) throw new Error("freed");
 * const again = folioAlloc(mm, 0);
 * if (again === f && folioRefLive(mm, ref)) throw new Error("a new use of the frame is another generation");
 * ```
 */
export function folioRefLive(mm: Mm, ref: FolioRef): boolean {
  return mm.isLive(ref);
}
