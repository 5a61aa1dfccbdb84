/**
 * The migration hook thread 000 proposes (Miklos Szeredi, linux-fsdevel, 14 Jan 2025: "an
 * explicit callback from the migration code to the filesystem … move the complexity of dealing
 * with migration for problematic filesystems (netfs/fuse) to the filesystem itself"): when
 * `migrate_folio_unmap` cannot lock a folio that is not uptodate — a read is in flight — it
 * asks the filesystem (`->abandonFolio`, see `AddressSpaceOperations`) whether it will give up
 * that read. A filesystem that does unlocks the folio without marking it uptodate (or removes
 * it from the page cache), drops the references its request held, and drops the late reply;
 * migration then takes the lock and goes on. The argument for its safety is the read path's
 * retry rule (mm/filemap.c `filemap_update_page`: a folio found unlocked and not uptodate is
 * read again through `->read_folio`; one without a mapping is looked up again).
 *
 * No kernel has this hook (up to v6.16 at least); it is called from lib/mm/migrate.ts
 * `migrateFolioUnmap` right after the failed trylock, in every migration mode. Counters (model
 * names, vmstat): `migrate_abandon_read` (the filesystem gave the read up) and
 * `migrate_abandon_refused`.
 *
 * @module
 */

import { AddressSpace, type MigrateMode } from "./address_space.ts";
import { PG } from "./memory.ts";
import type { Mm } from "./mm.ts";

/**
 * Ask the filesystem of `folio` to abandon the read in flight on it (the proposal in the module
 * doc). Only for a folio that is locked and not uptodate and whose mapping has
 * `->abandonFolio`; returns true if the filesystem abandoned the read (the folio is then
 * unlocked, possibly no longer in the page cache).
 *
 * @example No hook, no abandonment
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, filemapAddFolioLocked } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolioLocked(mm, m, f, 0);
 * if (folioAbandonRead(mm, f, "MIGRATE_ASYNC")) throw new Error("no ->abandonFolio");
 * m.aops = { abandonFolio: (mm, _m, folio) => { mm.mem.clearFlag(folio, 0); return true; } };
 * if (!folioAbandonRead(mm, f, "MIGRATE_ASYNC")) throw new Error("abandoned");
 * ```
 */
export function folioAbandonRead(mm: Mm, folio: number, mode: MigrateMode): boolean {
  const mem = mm.mem;
  if (!mem.testFlag(folio, PG.locked) || mem.testFlag(folio, PG.uptodate)) return false;
  const mapping = AddressSpace.of(mm, folio);
  const hook = mapping?.aops.abandonFolio;
  if (!mapping || !hook) return false;
  const ok = hook.call(mapping.aops, mm, mapping, folio, mode);
  mm.vmstat.inc(ok ? "migrate_abandon_read" : "migrate_abandon_refused");
  mm.env.emit("migrate_abandon_read", folio, mode, ok);
  return ok;
}
