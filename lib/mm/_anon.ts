/**
 * Anonymous folios as mmap.ts, gup.ts and direct_io.ts see them: `folio->mapping` of an
 * anonymous folio names its anon_vma (a registered mapping that is not an AddressSpace, the
 * way fragment.ts's FRAGMENT_MAPPING and migrate.ts's `folioTestAnon` already read it), as the
 * kernel's points at the anon_vma with PAGE_MAPPING_ANON set.
 *
 * - {@link folioFileMapping} is `folio_mapping()`: the AddressSpace, or undefined for an
 *   anonymous or truncated folio (`AddressSpace.of` casts without checking).
 * - {@link folioMarkDirtyAny} is `folio_mark_dirty()` with the anonymous case
 *   (`noop_dirty_folio`: PG_dirty only), {@link setPageDirtyLockAny} `set_page_dirty_lock()`.
 * - {@link folioPutRefsAny} clears an anonymous folio's mapping before its last reference is
 *   dropped, as `free_pages_prepare()` does (`if (PageMappingFlags(page)) page->mapping =
 *   NULL`), which folio.ts's free checks do not know about.
 *
 * Private to lib/mm: mod.ts does not export it.
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import { AddressSpace } from "./address_space.ts";
import { folioLock, folioPutRefs, folioUnlock } from "./folio.ts";
import { PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import { folioMarkDirty } from "./writeback.ts";

/** folio_mapping(): the file's AddressSpace, or undefined (anonymous, truncated). */
export function folioFileMapping(mm: Mm, folio: number): AddressSpace | undefined {
  const m = mm.mappings[mm.mem.mapping[folio]!];
  return m instanceof AddressSpace ? m : undefined;
}

/** folio_test_anon(): a mapping id that is not an address space. */
export function folioIsAnon(mm: Mm, folio: number): boolean {
  const id = mm.mem.mapping[folio]!;
  return id !== 0 && !(mm.mappings[id] instanceof AddressSpace);
}

/** folio_mark_dirty(): `->dirty_folio` of a file folio, PG_dirty only otherwise. */
export function folioMarkDirtyAny(mm: Mm, folio: number): boolean {
  if (folioFileMapping(mm, folio)) return folioMarkDirty(mm, folio);
  return !mm.mem.testAndSetFlag(folio, PG.dirty); // noop_dirty_folio
}

/** set_page_dirty_lock(): folio_lock, folio_mark_dirty, folio_unlock. */
export function* setPageDirtyLockAny(mm: Mm, folio: number): Process<boolean> {
  yield* folioLock(mm, folio);
  const r = folioMarkDirtyAny(mm, folio);
  folioUnlock(mm, folio);
  return r;
}

/** folio_put_refs() that clears an anonymous folio's mapping when it is about to be freed. */
export function folioPutRefsAny(mm: Mm, folio: number, n: number): void {
  if (mm.mem.refcount[folio] === n && folioIsAnon(mm, folio)) mm.mem.mapping[folio] = 0;
  folioPutRefs(mm, folio, n);
}
