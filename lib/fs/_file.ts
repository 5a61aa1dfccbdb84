/**
 * What the filesystem models' `createFile` share (simple_fs.ts, iomap.ts, netfs.ts): an address
 * space with the filesystem's aops and the filesystem as its host, an optional size
 * (`i_size_write`), and the first pages of the backing store filled with fresh content tags.
 *
 * Private to lib/fs. Not a kernel model: the kernel creates inodes through each filesystem.
 *
 * @module
 */

import { AddressSpace, type AddressSpaceOperations, newContentTag } from "../mm/address_space.ts";
import type { Mm } from "../mm/mm.ts";
import { iSizeWrite } from "../mm/pagemap.ts";

/** Options of {@link createFsFile}. */
export interface FsFileOptions {
  /** Name for reports. */
  name: string;
  /** Folio order range of the mapping (default 0 … 0). */
  minOrder?: number;
  maxOrder?: number;
  /** i_size in pages (default: not set). */
  sizePages?: number;
  /** Pages 0 … fillPages-1 exist in the backing store, each with a fresh content tag. */
  fillPages?: number;
}

/** A file of the filesystem `host`, whose address space operations are `aops`. */
export function createFsFile(
  mm: Mm,
  host: unknown,
  aops: AddressSpaceOperations,
  opts: FsFileOptions,
): AddressSpace {
  const mapping = AddressSpace.create(mm, {
    name: opts.name,
    aops,
    minOrder: opts.minOrder,
    maxOrder: opts.maxOrder,
    host,
  });
  if (opts.sizePages !== undefined) iSizeWrite(mapping, opts.sizePages);
  for (let i = 0; i < (opts.fillPages ?? 0); i++) {
    const tag = newContentTag(mm);
    mapping.backing.set(i, tag);
    mapping.latest.set(i, tag);
  }
  return mapping;
}
