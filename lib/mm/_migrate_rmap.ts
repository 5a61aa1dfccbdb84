/**
 * Private glue between migration / split and the reverse map of lib/mm/mmap.ts.
 *
 * mmap.ts keeps a reverse map of the PTEs it creates (`try_to_migrate` turns them into
 * migration entries, `remove_migration_ptes` back). Folios can also be mapped without going
 * through it: fragment.ts's movable folios stand for anonymous user memory with one mapping
 * (see `lruAddFragmentFolios` in compaction.ts). Their mapcount is larger than their reverse
 * map; the surplus is treated as anonymous mappings, each holding one reference, which
 * `tryToMigrate` turns into counted migration entries (per pfn and generation) and
 * `removeMigrationPtes` restores on the source or installs on the destination, as
 * `try_to_migrate_one()` / `remove_migration_pte()` (mm/rmap.c, mm/migrate.c, v6.12) drop and
 * re-take them.
 *
 * Private to lib/mm: mod.ts does not export it.
 *
 * @module
 */

import type { Mm } from "./mm.ts";
import {
  folioRmap,
  removeMigrationPtes as rmapRemoveMigrationPtes,
  tryToMigrate as rmapTryToMigrate,
} from "./mmap.ts";

/**
 * Counted migration entries per Mm: head pfn → number of entries. Keyed by pfn alone: the
 * source folio stays allocated (isolated, holding the migration's reference) from
 * `tryToMigrate` until `removeMigrationPtes`, so its frame cannot change use in between.
 */
const counted = new WeakMap<Mm, Map<number, number>>();

function entries(mm: Mm): Map<number, number> {
  let m = counted.get(mm);
  if (!m) counted.set(mm, m = new Map());
  return m;
}

/**
 * `try_to_migrate()`: replace every mapping of the folio by a migration entry (mmap.ts's PTEs,
 * then the counted surplus); mapcount goes to 0 and the mappings' references are dropped.
 * Returns true when the folio is no longer mapped.
 */
export function tryToMigrate(mm: Mm, folio: number): boolean {
  const mem = mm.mem;
  if (mem.mapcount[folio]! <= 0) return true;
  if (folioRmap(mm, folio).length > 0) rmapTryToMigrate(mm, folio);
  const n = mem.mapcount[folio]!;
  if (n > 0) {
    const m = entries(mm);
    m.set(folio, (m.get(folio) ?? 0) + n);
    mem.mapcount[folio] = 0;
    mem.refcount[folio]! -= n;
    mm.env.emit("set_migration_pte", folio, null, n);
  }
  return true;
}

/** Forget the counted migration entries of `folio` and return how many there were. */
export function takeCountedEntries(mm: Mm, folio: number): number {
  const m = counted.get(mm);
  if (!m) return 0;
  const n = m.get(folio);
  if (n === undefined) return 0;
  m.delete(folio);
  return n;
}

/** Map `folio` `n` more times, each mapping holding a reference. */
export function remapCounted(mm: Mm, folio: number, n: number): void {
  if (n <= 0) return;
  mm.mem.mapcount[folio]! += n;
  mm.mem.refcount[folio]! += n;
  mm.env.emit("remove_migration_pte", folio, null, n);
}

/**
 * `remove_migration_ptes(src, dst)`: turn the migration entries of `src` into mappings of `dst`
 * (`dst === src` restores them). Idempotent.
 */
export function removeMigrationPtes(mm: Mm, src: number, dst: number): void {
  rmapRemoveMigrationPtes(mm, src, dst);
  remapCounted(mm, dst, takeCountedEntries(mm, src));
}

/**
 * `remap_page()` after a split of `folio` (of `nrPages` pages) into `pieces`: mmap.ts's entries
 * come back on the new folio owning each page (their references, which mmap.ts takes on the
 * original head, are moved to that folio); counted entries are shared out in proportion to
 * each new folio's size, the remainder to the original head.
 */
export function remapSplitFolio(
  mm: Mm,
  folio: number,
  pieces: readonly number[],
  orders: readonly number[],
  nrPages: number,
): void {
  const mem = mm.mem;
  const before = pieces.map((p) => mem.mapcount[p]!);
  rmapRemoveMigrationPtes(mm, folio, folio);
  let moved = 0;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    if (p === folio) continue;
    const d = mem.mapcount[p]! - before[i]!;
    mem.refcount[p]! += d;
    moved += d;
  }
  mem.refcount[folio]! -= moved;
  const n = takeCountedEntries(mm, folio);
  if (n > 0) {
    let given = 0;
    for (let i = 0; i < pieces.length; i++) {
      const share = Math.floor(n * (1 << orders[i]!) / nrPages);
      remapCounted(mm, pieces[i]!, share);
      given += share;
    }
    remapCounted(mm, folio, n - given);
  }
}
