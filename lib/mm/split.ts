/**
 * Splitting large folios: uniformly into folios of one order, or non-uniformly ("buddy-like")
 * around one page, keeping the page-cache entries, reference counts, flags and contents of
 * every page.
 *
 * Follows mm/huge_memory.c `__folio_split`, `__split_unmapped_folio`, `__split_folio_to_order`,
 * `can_split_folio`, `min_order_for_split`, `uniform_split_supported`,
 * `non_uniform_split_supported`, `lru_add_split_folio`, `split_folio_to_list`, and
 * include/linux/huge_mm.h `split_huge_page_to_list_to_order`, `folio_split`,
 * `try_folio_split_to_order`, `split_folio`, with include/linux/pagemap.h
 * `mapping_min_folio_order`, as of Zi Yan's non-uniform split (v6.15, era switch
 * `nonUniformSplit`) and "mm/huge_memory: do not change split_huge_page*() target order
 * silently" (late 2025, era switch `splitBelowMinOrderFails`), read in the patch text; the
 * stored tree of mm/huge_memory.c predates folios, so the function bodies follow the v6.15
 * code as described in those series [partly U].
 *
 * What a split needs (thread 004, C4.2): the folio locked; not under writeback (-EBUSY); a file
 * folio still in its mapping (-EBUSY), split no lower than `mapping_min_folio_order` (-EINVAL),
 * its private data released by `filemap_release_folio` (-EBUSY if the filesystem refuses:
 * iomap refuses dirty folios); no references beyond the page cache's, the mappings' and the
 * caller's one (`can_split_folio`, -EAGAIN). The split releases the private data itself; a
 * filesystem such as iomap then needs a new per-folio state for each new folio that is partly
 * dirty or uptodate — the returned list of new folios is what the caller counts.
 *
 * The target order of `split_folio` / `split_folio_to_list` (order 0): before late 2025 it was
 * silently raised to the mapping's minimum order (`min_order_for_split`); with
 * `mm.era.splitBelowMinOrderFails` it is not, and the split fails with -EINVAL. An explicit
 * order below the minimum (`splitHugePageToListToOrder`) fails in every era.
 *
 * Counters: `thp_split_page` / `thp_split_page_failed` for PMD-sized folios as the kernel
 * counts them (early -EINVAL and -EBUSY-for-writeback returns are not counted, as in the
 * kernel); for every order the mTHP stats as `mthp_split_order_<k>` /
 * `mthp_split_failed_order_<k>`; and model counters `split_failed_<why>` with why ∈
 * writeback, truncated, min_order, release, refs, anon_vma, unsupported.
 *
 * Left out: the deferred-split queue, shmem (no `shmem_mapping`), swap cache, dropping pages
 * beyond EOF (no i_size in the model), memcg, the huge zero folio, PMD mappings. Unmapping and
 * remapping use mmap.ts's reverse map: each PTE comes back on the new folio holding its page;
 * mappings mmap.ts does not know of (fragment.ts's folios) are handed back in proportion to
 * each new folio's size.
 *
 * @module
 */

import { AddressSpace, type Errno, type KResult } from "./address_space.ts";
import { folioPut, folioUnlock } from "./folio.ts";
import { folioLruList } from "./lru.ts";
import { NIL, PG, pmdOrder } from "./memory.ts";
import type { Mm } from "./mm.ts";
import { folioTestAnon } from "./migrate_folio.ts";
import { filemapReleaseFolio } from "./filemap.ts";
import { GFP_KERNEL } from "./page_alloc.ts";
import { remapSplitFolio, tryToMigrate } from "./_migrate_rmap.ts";

/**
 * Flags a new folio takes from the folio being split (`__split_folio_to_order`, the mask of
 * `__split_huge_page_tail` before it): referenced, swapbacked, mlocked, uptodate, active,
 * workingset, locked, unevictable, arch_1/2, dirty. Not PG_lru (set when the new folio joins the
 * LRU), not PG_private/PG_private_2 (released before), not PG_writeback (refused).
 */
const SPLIT_FLAGS = (1 << PG.referenced) | (1 << PG.swapbacked) | (1 << PG.mlocked) |
  (1 << PG.uptodate) | (1 << PG.active) | (1 << PG.workingset) | (1 << PG.locked) |
  (1 << PG.unevictable) | (1 << PG.arch_1) | (1 << PG.dirty);

type R = KResult<number[]>;
const ERR = new Map<Errno, R>();
function err(e: Errno): R {
  let r = ERR.get(e);
  if (!r) ERR.set(e, r = Object.freeze({ ok: false, errno: e }) as R);
  return r;
}

/**
 * `can_split_folio()`: are the only references the mappings', the page cache's (one per page
 * for a file folio) and the caller's `callerPins`?
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const mapping = AddressSpace.create(mm, { name: "f", maxOrder: 2 });
 * const f = folioAlloc(mm, 2);
 * filemapAddFolio(mm, mapping, f, 0); // 1 + 4 references
 * if (!canSplitFolio(mm, f, 1)) throw new Error("splittable");
 * mm.mem.refcount[f]!++;              // a pipe buffer holds it
 * if (canSplitFolio(mm, f, 1)) throw new Error("extra reference");
 * ```
 */
export function canSplitFolio(mm: Mm, folio: number, callerPins: number): boolean {
  const mem = mm.mem;
  const extraPins = folioTestAnon(mm, folio) ? 0 : 1 << mem.order[folio]!;
  return mem.mapcount[folio] === mem.refcount[folio]! - extraPins - callerPins;
}

/**
 * `min_order_for_split()`: 0 for an anonymous folio, the mapping's minimum folio order for a
 * file folio (0 before min-order mappings, v6.12, era switch `minOrderMappings`), -EBUSY for
 * a truncated one (counted as a failed split when PMD-sized).
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const mapping = AddressSpace.create(mm, { name: "lbs", minOrder: 2, maxOrder: 4 });
 * const f = folioAlloc(mm, 4);
 * filemapAddFolio(mm, mapping, f, 0);
 * const r = minOrderForSplit(mm, f);
 * if (!r.ok || r.value !== 2) throw new Error("min order 2");
 * ```
 */
export function minOrderForSplit(mm: Mm, folio: number): KResult<number> {
  if (folioTestAnon(mm, folio)) return { ok: true, value: 0 };
  const mapping = AddressSpace.of(mm, folio);
  if (!(mapping instanceof AddressSpace)) {
    if (mm.mem.order[folio]! >= pmdOrder(mm.mem.pageSizeBytes)) {
      mm.vmstat.inc("thp_split_page_failed");
    }
    return { ok: false, errno: "EBUSY" };
  }
  return { ok: true, value: mm.era.minOrderMappings ? mapping.minOrder : 0 };
}

/**
 * `uniform_split_supported()`: anonymous folios cannot be split to order 1; file folios only
 * to order 0 unless the mapping supports large folios.
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const mapping = AddressSpace.create(mm, { name: "f", maxOrder: 3 });
 * const f = folioAlloc(mm, 3);
 * filemapAddFolio(mm, mapping, f, 0);
 * if (!uniformSplitSupported(mm, f, 1)) throw new Error("large folios supported");
 * ```
 */
export function uniformSplitSupported(mm: Mm, folio: number, newOrder: number): boolean {
  if (folioTestAnon(mm, folio)) return newOrder !== 1;
  if (newOrder > 0) {
    const mapping = AddressSpace.of(mm, folio);
    if (mapping instanceof AddressSpace && mapping.maxOrder === 0) return false;
  }
  return true;
}

/**
 * `non_uniform_split_supported()` (v6.15): anonymous folios not to order 1; a file folio only
 * if its mapping supports large folios (the pieces are large).
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const mapping = AddressSpace.create(mm, { name: "f", maxOrder: 3 });
 * const f = folioAlloc(mm, 3);
 * filemapAddFolio(mm, mapping, f, 0);
 * if (!nonUniformSplitSupported(mm, f, 0)) throw new Error("supported");
 * ```
 */
export function nonUniformSplitSupported(mm: Mm, folio: number, newOrder: number): boolean {
  if (folioTestAnon(mm, folio)) return newOrder !== 1;
  const mapping = AddressSpace.of(mm, folio);
  return !(mapping instanceof AddressSpace && mapping.maxOrder === 0);
}

/** The new folios of a split as (pfn, order) pairs, in pfn order. */
function splitLayout(
  folio: number,
  order: number,
  newOrder: number,
  splitAt: number,
  uniform: boolean,
  anon: boolean,
): { pfns: number[]; orders: number[] } {
  const pieces: [number, number][] = [];
  if (uniform) {
    for (let p = folio; p < folio + (1 << order); p += 1 << newOrder) pieces.push([p, newOrder]);
  } else {
    // __split_unmapped_folio(): split the folio containing split_at one order at a time and
    // release the other half at each order; the last two are of new_order.
    let cur = folio, curOrder = order;
    for (let splitOrder = order - 1; splitOrder >= newOrder; splitOrder--) {
      if (anon && splitOrder === 1) continue; // order-1 anonymous folio is not supported
      let next = cur;
      for (let p = cur; p < cur + (1 << curOrder); p += 1 << splitOrder) {
        const contains = splitAt >= p && splitAt < p + (1 << splitOrder);
        if (contains) next = p;
        if (!contains || splitOrder === newOrder) pieces.push([p, splitOrder]);
      }
      cur = next;
      curOrder = splitOrder;
    }
  }
  pieces.sort((a, b) => a[0] - b[0]);
  return { pfns: pieces.map((p) => p[0]), orders: pieces.map((p) => p[1]) };
}

/** `list_add_tail(&new->lru, &folio->lru)`: link `pfn` just before `anchor` on its list. */
function lruInsertBefore(mm: Mm, anchor: number, pfn: number): void {
  const mem = mm.mem;
  const p = mem.prev[anchor]!;
  mem.next[pfn] = anchor;
  mem.prev[pfn] = p;
  mem.prev[anchor] = pfn;
  if (p !== NIL) mem.next[p] = pfn;
  else mm.lruvec.lists[folioLruList(mem, anchor)]!.first = pfn;
}

function fail(mm: Mm, order: number, e: Errno, why: string): R {
  if (order === pmdOrder(mm.mem.pageSizeBytes)) mm.vmstat.inc("thp_split_page_failed");
  mm.vmstat.inc(`mthp_split_failed_order_${order}`);
  mm.vmstat.inc(`split_failed_${why}`);
  return err(e);
}

/**
 * `__folio_split()`: the common body of the uniform and non-uniform splits. `list` non-null:
 * the new folios other than `folio` get an extra reference and go on `list` instead of the LRU
 * (reclaim and migration). `folio` (the head) stays locked with the caller's reference.
 */
function folioSplitCommon(
  mm: Mm,
  folio: number,
  newOrder: number,
  splitAt: number,
  list: number[] | null,
  uniform: boolean,
): R {
  const mem = mm.mem;
  if (!mem.testFlag(folio, PG.locked)) {
    throw new Error(`split: ${mm.describeFolio(folio)} is not locked (VM_BUG_ON_FOLIO)`);
  }
  const order = mem.order[folio]!;
  if (order === 0 || mem.head[folio] !== NIL) {
    throw new Error(`split: ${mm.describeFolio(folio)} is not a large folio (VM_BUG_ON_FOLIO)`);
  }
  const nr = 1 << order;
  if (splitAt < folio || splitAt >= folio + nr) return err("EINVAL");
  if (newOrder >= order) return err("EINVAL");
  const anon = folioTestAnon(mm, folio);
  if (
    uniform ? !uniformSplitSupported(mm, folio, newOrder) : (
      !mm.era.nonUniformSplit || !nonUniformSplitSupported(mm, folio, newOrder)
    )
  ) {
    mm.vmstat.inc("split_failed_unsupported");
    return err("EINVAL");
  }
  if (mem.testFlag(folio, PG.writeback)) {
    mm.vmstat.inc("split_failed_writeback");
    return err("EBUSY");
  }
  let mapping: AddressSpace | null = null;
  if (anon) {
    // folio_get_anon_vma() finds no anon_vma for an unmapped anonymous folio.
    if (mem.mapcount[folio] === 0) return fail(mm, order, "EBUSY", "anon_vma");
  } else {
    const m = AddressSpace.of(mm, folio);
    if (!(m instanceof AddressSpace)) return fail(mm, order, "EBUSY", "truncated");
    mapping = m;
    const minOrder = mm.era.minOrderMappings ? mapping.minOrder : 0;
    if (newOrder < minOrder) return fail(mm, order, "EINVAL", "min_order");
    if (!filemapReleaseFolio(mm, folio, GFP_KERNEL)) return fail(mm, order, "EBUSY", "release");
  }
  // Racy check if we can split the folio, before unmapping.
  if (!canSplitFolio(mm, folio, 1)) return fail(mm, order, "EAGAIN", "refs");
  // unmap_folio(): migration entries for every mapping.
  tryToMigrate(mm, folio);
  // folio_ref_freeze(folio, 1 + extra_pins): a single step, so it holds after the check.
  const extraPins = anon ? 0 : nr;
  if (mem.refcount[folio] !== 1 + extraPins) {
    remapSplitFolio(mm, folio, [folio], [order], nr);
    return fail(mm, order, "EAGAIN", "refs");
  }

  const { pfns, orders } = splitLayout(folio, order, newOrder, splitAt, uniform, anon);
  const flags = mem.flags[folio]!;
  const onLru = (flags & (1 << PG.lru)) !== 0;
  if (!onLru && !list) {
    mm.env.violation(
      "split of an isolated folio without a list",
      `lru_add_split_folio: ${mm.describeFolio(folio)} is not on the LRU and no list was ` +
        `given (VM_WARN_ON(!folio_test_lru))`,
    );
  }
  const index = mem.index[folio]!;
  const mappingId = mem.mapping[folio]!;
  for (let i = 0; i < pfns.length; i++) {
    const p = pfns[i]!, o = orders[i]!, np = 1 << o;
    const headBit = o > 0 ? 1 << PG.head : 0;
    if (p === folio) mem.flags[p] = (flags & ~(1 << PG.head)) | headBit;
    else mem.flags[p] = (flags & SPLIT_FLAGS) | headBit;
    mem.order[p] = o;
    mem.head[p] = NIL;
    for (let t = p + 1; t < p + np; t++) mem.head[t] = p;
    mem.mapping[p] = mappingId;
    mem.index[p] = index + (p - folio);
    if (p !== folio) mem.private[p] = 0;
    // Unfreeze: the caller's (or, for the others, a temporary) reference + the page cache's.
    mem.refcount[p] = 1 + (mapping ? np : 0);
    mem.mapcount[p] = 0;
  }
  // lru_add_split_folio() and the page-cache stores for every new folio but the original. The
  // new folios share the original's LRU flags, so the list sizes (in pages) do not change.
  for (let i = 0; i < pfns.length; i++) {
    const p = pfns[i]!;
    if (p === folio) continue;
    if (list) {
      mem.refcount[p]!++; // additional pin to page cache
      list.push(p);
    } else if (onLru) {
      mem.setFlag(p, PG.lru);
      if (!mem.testFlag(p, PG.unevictable)) lruInsertBefore(mm, folio, p);
    }
    if (mapping) {
      const end = mem.index[p]! + (1 << orders[i]!);
      for (let x = mem.index[p]!; x < end; x++) mapping.pages.store(x, p);
    }
  }
  // remap_page(): the mappings come back on the new folio owning each page.
  remapSplitFolio(mm, folio, pfns, orders, nr);
  // Unlock all new folios but the one containing lock_at (the original head) and drop the
  // temporary reference: a new anonymous folio nobody maps is freed here.
  for (const p of pfns) {
    if (p === folio) continue;
    folioUnlock(mm, p);
    // free_pages_prepare() clears an anonymous folio's mapping; folio.ts reports any mapping.
    if (anon && mem.refcount[p] === 1) mem.mapping[p] = 0;
    folioPut(mm, p);
  }
  if (order === pmdOrder(mem.pageSizeBytes)) mm.vmstat.inc("thp_split_page");
  mm.vmstat.inc(`mthp_split_order_${order}`);
  mm.env.emit("mm_split_folio", folio, order, { newOrder, uniform, folios: pfns.length });
  return { ok: true, value: pfns };
}

/**
 * `split_huge_page_to_list_to_order()`: split the locked large `folio` uniformly into folios of
 * `newOrder`. Returns the new folios (pfn order, `folio` first, still locked and referenced by
 * the caller); the others are unlocked, on the LRU, or on `list` with an extra reference.
 *
 * @example Uniform split of an order-9 page-cache folio gives 512 folios
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, filemapGetEntry, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 2048 } });
 * const mapping = AddressSpace.create(mm, { name: "f", maxOrder: 9 });
 * const f = folioAlloc(mm, 9);
 * filemapAddFolio(mm, mapping, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * mm.mem.setFlag(f, PG.locked);
 * const r = splitHugePageToListToOrder(mm, f, 0);
 * if (!r.ok || r.value.length !== 512) throw new Error("512 folios");
 * if (filemapGetEntry(mapping, 300) !== f + 300) throw new Error("cache entry");
 * if (!mm.mem.testFlag(f + 300, PG.uptodate)) throw new Error("flags kept");
 * ```
 */
export function splitHugePageToListToOrder(
  mm: Mm,
  folio: number,
  newOrder: number,
  list: number[] | null = null,
): KResult<number[]> {
  return folioSplitCommon(mm, folio, newOrder, folio, list, true);
}

/**
 * `folio_split()` (v6.15, "buddy allocator like" non-uniform split): split the locked large
 * `folio` around page `splitAt` so that the page ends up in a folio of `newOrder` and the rest
 * in as few folios as possible: orders k-1, …, newOrder+1, newOrder, newOrder (k − newOrder + 1
 * folios). -EINVAL before v6.15 (era switch `nonUniformSplit`) or where unsupported.
 *
 * @example Non-uniform split of order 9 around one page gives 10 folios
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 2048 }, version: "6.16" });
 * const mapping = AddressSpace.create(mm, { name: "f", maxOrder: 9 });
 * const f = folioAlloc(mm, 9);
 * filemapAddFolio(mm, mapping, f, 0);
 * mm.mem.setFlag(f, PG.locked);
 * const r = folioSplit(mm, f, 0, f + 5);
 * if (!r.ok) throw new Error(r.errno);
 * const orders = r.value.map((p) => mm.mem.order[p]).sort((a, b) => b! - a!);
 * if (orders.join() !== "8,7,6,5,4,3,2,1,0,0") throw new Error(orders.join());
 * ```
 */
export function folioSplit(
  mm: Mm,
  folio: number,
  newOrder: number,
  splitAt: number,
  list: number[] | null = null,
): KResult<number[]> {
  return folioSplitCommon(mm, folio, newOrder, splitAt, list, false);
}

/**
 * `try_folio_split_to_order()` (include/linux/huge_mm.h, late 2025; `try_folio_split` before):
 * non-uniform split around `splitAt` when the era has it and the folio supports it, else a
 * uniform split to `newOrder`. Callers pass at least `mapping_min_folio_order`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 }, version: "6.12" });
 * const mapping = AddressSpace.create(mm, { name: "f", maxOrder: 3 });
 * const f = folioAlloc(mm, 3);
 * filemapAddFolio(mm, mapping, f, 0);
 * mm.mem.setFlag(f, PG.locked);
 * const r = tryFolioSplitToOrder(mm, f, f + 1, 0);
 * if (!r.ok || r.value.length !== 8) throw new Error("6.12 has no non-uniform split: 8 folios");
 * ```
 */
export function tryFolioSplitToOrder(
  mm: Mm,
  folio: number,
  splitAt: number,
  newOrder: number,
): KResult<number[]> {
  if (!mm.era.nonUniformSplit || !nonUniformSplitSupported(mm, folio, newOrder)) {
    return splitHugePageToListToOrder(mm, folio, newOrder);
  }
  return folioSplit(mm, folio, newOrder, splitAt);
}

/**
 * `split_folio_to_list()`: split to order 0 — or, before late 2025 (`splitBelowMinOrderFails`
 * false), to the mapping's minimum order (`min_order_for_split`), silently.
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 }, version: "6.12" });
 * const mapping = AddressSpace.create(mm, { name: "lbs", minOrder: 2, maxOrder: 4 });
 * const f = folioAlloc(mm, 4);
 * filemapAddFolio(mm, mapping, f, 0);
 * mm.mem.setFlag(f, PG.locked);
 * const r = splitFolioToList(mm, f, null);
 * if (!r.ok || r.value.length !== 4) throw new Error("four order-2 folios");
 * ```
 */
export function splitFolioToList(
  mm: Mm,
  folio: number,
  list: number[] | null,
): KResult<number[]> {
  if (mm.era.splitBelowMinOrderFails) return splitHugePageToListToOrder(mm, folio, 0, list);
  const min = minOrderForSplit(mm, folio);
  if (!min.ok) return min;
  return splitHugePageToListToOrder(mm, folio, min.value, list);
}

/**
 * `split_folio()`: `split_folio_to_list(folio, NULL)`. Not a generator: a split does not sleep
 * (the caller holds the folio lock).
 *
 * @example Min-order 2 mapping: split to 0 fails in the 6.19 era
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 }, version: "6.19" });
 * const mapping = AddressSpace.create(mm, { name: "lbs", minOrder: 2, maxOrder: 4 });
 * const f = folioAlloc(mm, 4);
 * filemapAddFolio(mm, mapping, f, 0);
 * mm.mem.setFlag(f, PG.locked);
 * const r = splitFolio(mm, f);
 * if (r.ok || r.errno !== "EINVAL") throw new Error("EINVAL");
 * ```
 */
export function splitFolio(mm: Mm, folio: number): KResult<number[]> {
  return splitFolioToList(mm, folio, null);
}
