/**
 * Shared fixtures of the mmap / direct_io / check tests: a small machine, a filesystem whose
 * `->read_folio` reads the backing store after a latency and whose `->page_mkwrite` (when
 * asked for) does what fuse_page_mkwrite does, and the writeback of one folio as
 * write_cache_pages and a simple `->writepage` do it.
 *
 * @module
 */

import type { Strategy } from "../../../lib/sim/strategy.ts";
import { Engine, type Process } from "../../../lib/sim/engine.ts";
import { AddressSpace, type AddressSpaceOperations } from "../../../lib/mm/address_space.ts";
import { folioEndRead, folioLock, folioUnlock } from "../../../lib/mm/folio.ts";
import { PG } from "../../../lib/mm/memory.ts";
import { Mm } from "../../../lib/mm/mm.ts";
import {
  folioClearDirtyForIo,
  folioEndWriteback,
  folioStartWriteback,
  folioWaitWriteback,
} from "../../../lib/mm/writeback.ts";

/** Options of {@link world}. */
export interface WorldOptions {
  /** Frames (default 512). */
  nrFrames?: number;
  /** Engine seed (default 1). */
  seed?: number;
  /** Scheduling strategy (default fifo). */
  strategy?: Strategy;
  /** Give the file a `->page_mkwrite` like fuse_page_mkwrite (default true). */
  pageMkwrite?: boolean;
  /** `->read_folio` latency (default 1000 ns). */
  readNs?: number;
  /** Kernel version. */
  version?: string;
  /** Large folios for the file: mapping min order. */
  minOrder?: number;
  /** CMA ranges of the zone. */
  cma?: { startPfn: number; endPfn: number }[];
}

/** A machine with one file ("fuse file") and one disk file ("disk file"). */
export function world(o: WorldOptions = {}) {
  const env = new Engine({ seed: o.seed ?? 1, trace: true, strategy: o.strategy });
  const mm = new Mm(env, {
    memory: { nrFrames: o.nrFrames ?? 512 },
    zone: { cma: o.cma ?? [] },
    version: o.version,
  });
  const readNs = o.readNs ?? 1000;
  const aops: AddressSpaceOperations = {
    *readFolio(mm, mapping, folio): Process<number> {
      yield mm.env.sleep(readNs);
      const nr = 1 << mm.mem.order[folio]!;
      for (let k = 0; k < nr; k++) {
        mm.mem.data[folio + k] = mapping.backing.get(mm.mem.index[folio]! + k) ?? 0;
      }
      folioEndRead(mm, folio, true);
      return 0;
    },
  };
  if (o.pageMkwrite ?? true) {
    // fuse_page_mkwrite(): lock, check truncation, wait for FUSE writeback, VM_FAULT_LOCKED.
    aops.pageMkwrite = function* (mm, mapping, folio) {
      yield* folioLock(mm, folio);
      if (mm.mem.mapping[folio] !== mapping.id) {
        folioUnlock(mm, folio);
        return { ok: false, errno: "EAGAIN" };
      }
      yield* folioWaitWriteback(mm, folio);
      return { ok: true, value: undefined };
    };
  }
  const file = AddressSpace.create(mm, {
    name: "fuse file",
    aops,
    minOrder: o.minOrder,
    maxOrder: o.minOrder,
  });
  const disk = AddressSpace.create(mm, { name: "disk file", aops: { readFolio: aops.readFolio } });
  return { env, mm, file, disk };
}

/**
 * Write back one folio as write_cache_pages + a simple ->writepage do: lock,
 * folio_clear_dirty_for_io (which write-protects the PTEs with folio_mkclean), start
 * writeback, store the contents, unlock, end writeback after `ioNs`. Returns whether the folio
 * was dirty.
 */
export function* writebackFolio(mm: Mm, folio: number, ioNs = 0): Process<boolean> {
  yield* folioLock(mm, folio);
  const mapping = AddressSpace.of(mm, folio);
  if (!mapping) {
    folioUnlock(mm, folio); // truncated meanwhile
    return false;
  }
  // folio_clear_dirty_for_io(): folio_mkclean() (write-protect the PTEs), then clear PG_dirty.
  if (!folioClearDirtyForIo(mm, folio)) {
    folioUnlock(mm, folio);
    return false;
  }
  folioStartWriteback(mm, folio);
  const nr = 1 << mm.mem.order[folio]!;
  for (let k = 0; k < nr; k++) {
    mapping.backing.set(mm.mem.index[folio]! + k, mm.mem.data[folio + k]!);
  }
  folioUnlock(mm, folio);
  if (ioNs > 0) yield mm.env.sleep(ioNs);
  yield* folioEndWriteback(mm, folio);
  return true;
}

/** True if PG_dirty is set on the folio containing `pfn`. */
export function isDirty(mm: Mm, pfn: number): boolean {
  return mm.mem.testFlag(mm.mem.compoundHead(pfn), PG.dirty);
}

/** The trace kinds of interest, in order. */
export function kinds(env: Engine, wanted: readonly string[]): string[] {
  return env.trace!.kinds((e) => wanted.includes(e.kind));
}
