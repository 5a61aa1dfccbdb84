/**
 * Thread 000, C0.5: a temp-page copy and a /dev/fuse buffer copy, counted page by page, and a
 * throughput cost model calibrated to Joanne Koong's numbers for removing FUSE's temp pages.
 *
 * {@link copyVariantTrial} writes back `pages` dirty folios of a FUSE file through one of three
 * WRITE paths, with a server that copies each WRITE out of the kernel when it reads it and then
 * never replies (L = ∞), and looks at each page-cache folio after that copy:
 * - "temp page" (fs/fuse/file.c v3.11–v6.15, `fuse_writepage_locked` / `fuse_writepage_args_page_fill`):
 *   allocate a temp page, copy the folio into it, end writeback at once; the server then copies
 *   the temp page out through /dev/fuse;
 * - "/dev/fuse copy" (the alternative Bernd Schubert asks about, no kernel has it): the WRITE
 *   refers to the page-cache folio and the server's read of /dev/fuse (`fuse_copy_args`) is the
 *   one copy, after which writeback ends;
 * - "no temp, writeback until reply" (v6.16, 0c58a97f919c): the same single copy, but
 *   PG_writeback is held until the server replies.
 * Memcpys are counted where the model copies (`mem.data` moves); allocations where it allocates.
 *
 * {@link calibrateCopyCost}: a four-parameter model of the time per write(2) — per call, per
 * byte, per page of temp-page work (allocation + copy), and per call that writes less than a
 * page (the partial-page work of `fuse_write_begin`) — fitted by least squares on relative
 * error to the benchmark table in CLAIMS.md (write sizes 1 KiB, 4 KiB, 1 MiB; before and after
 * temp-page removal). Its absolute values are calibration, not claims; the 1 KiB row, where
 * removing temp pages made writes slightly slower, is outside what a cost-only model can fit.
 *
 * Not a kernel model; it composes lib/mm and lib/fs.
 *
 * @module
 */

import { Engine } from "../sim/engine.ts";
import { filemapAddFolio } from "../mm/address_space.ts";
import {
  folioAlloc,
  folioExpectedRefCount,
  folioPut,
  folioTrylock,
  folioUnlock,
} from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../mm/migrate.ts";
import { Mm } from "../mm/mm.ts";
import {
  folioClearDirtyForIo,
  folioEndWriteback,
  folioMarkDirty,
  folioStartWriteback,
} from "../mm/writeback.ts";
import { FuseMount } from "../fs/fuse.ts";

/**
 * The WRITE paths compared by C0.5.
 *
 * @example
 * ```ts
 * import { type CopyVariant, copyVariantTrial } from "@mmsim/mmsim";
 * const v: CopyVariant = "/dev/fuse copy";
 * const r = copyVariantTrial(v, 2);
 * if (r.allocsPerPage !== 0 || r.memcpyFromFolioPerPage !== 1) throw new Error(JSON.stringify(r));
 * ```
 */
export type CopyVariant = "temp page" | "/dev/fuse copy" | "no temp, writeback until reply";

/**
 * Every variant, in table order.
 *
 * @example
 * ```ts
 * import { COPY_VARIANTS, copyVariantTrial } from "@mmsim/mmsim";
 * const copies = COPY_VARIANTS.map((v) => copyVariantTrial(v, 2).memcpyTotalPerPage);
 * if (copies.join() !== "2,1,1") throw new Error("the temp page copies twice, the others once");
 * ```
 */
export const COPY_VARIANTS: readonly CopyVariant[] = [
  "temp page",
  "/dev/fuse copy",
  "no temp, writeback until reply",
];

/**
 * What {@link copyVariantTrial} counted and saw.
 *
 * @example
 * ```ts
 * import { copyVariantTrial, type CopyVariantResult } from "@mmsim/mmsim";
 * const r: CopyVariantResult = copyVariantTrial("temp page", 2);
 * // After the copy the page-cache folios are free: unlocked, no extra reference, migratable.
 * if (r.lockedAfterCopy !== 0 || r.extraRefAfterCopy !== 0 || r.migratedAfterCopy !== r.pages) {
 *   throw new Error(JSON.stringify(r));
 * }
 * ```
 */
export interface CopyVariantResult {
  /** The variant. */
  variant: CopyVariant;
  /** Pages written back. */
  pages: number;
  /** Copies out of a page-cache folio, per page. */
  memcpyFromFolioPerPage: number;
  /** All copies (folio → temp page, any page → server buffer), per page. */
  memcpyTotalPerPage: number;
  /** Page allocations in the writeback path, per page. */
  allocsPerPage: number;
  /** After the server's copy (its reply still outstanding): folios still locked. */
  lockedAfterCopy: number;
  /** … folios still under writeback. */
  writebackAfterCopy: number;
  /** … folios with references beyond `folio_expected_ref_count`. */
  extraRefAfterCopy: number;
  /** … folios MIGRATE_ASYNC moved. */
  migratedAfterCopy: number;
}

/**
 * C0.5's count (see the module doc).
 *
 * @example
 * ```ts
 * import { copyVariantTrial } from "@mmsim/mmsim";
 * const t = copyVariantTrial("temp page", 4);
 * if (t.memcpyFromFolioPerPage !== 1 || t.allocsPerPage !== 1 || t.migratedAfterCopy !== 4) throw new Error();
 * const u = copyVariantTrial("no temp, writeback until reply", 4);
 * if (u.migratedAfterCopy !== 0 || u.writebackAfterCopy !== 4) throw new Error("held until the reply");
 * ```
 */
export function copyVariantTrial(variant: CopyVariant, pages = 8): CopyVariantResult {
  const env = new Engine({ seed: 1 });
  const mm = new Mm(env, {
    memory: { nrFrames: 1024 },
    zone: { minFreeKbytes: 0 },
    version: "6.16",
  });
  const mount = new FuseMount(mm, {
    server: { threads: pages, latency: { kind: "fixed", ns: 0 } },
  });
  const fi = mount.createInode();
  const mem = mm.mem;
  let fromFolio = 0, total = 0, allocs = 0;
  const folios: number[] = [];
  for (let i = 0; i < pages; i++) {
    const f = folioAlloc(mm, 0);
    filemapAddFolio(mm, fi.mapping, f, i);
    mem.data[f] = 500 + i;
    mem.setFlag(f, PG.uptodate);
    folioMarkDirty(mm, f);
    folioPut(mm, f);
    folios.push(f);
  }
  // The server: copies the WRITE out when it reads it, then never replies.
  mount.conn.handlers.set("WRITE", function* (req, server) {
    const src = req.tempPages.length > 0 ? req.tempPages : req.folios;
    for (const p of src) {
      void mem.data[p]; // fuse_copy_args: one memcpy per page into the server's buffer
      total++;
      if (req.tempPages.length === 0) fromFolio++;
    }
    if (variant === "/dev/fuse copy") {
      for (const f of req.folios) yield* folioEndWriteback(mm, f);
    }
    yield env.hang(`server ${server} never replies to ${req.describe()}`);
  });
  env.spawn("writeback", function* () {
    for (let i = 0; i < pages; i++) {
      const f = folios[i]!;
      if (!folioTrylock(mm, f)) throw new Error("copyVariantTrial: folio locked");
      folioClearDirtyForIo(mm, f);
      folioStartWriteback(mm, f);
      const req = mount.conn.newRequest("WRITE", fi.ino, i);
      req.tags.push(mem.data[f]!);
      if (variant === "temp page") {
        const tmp = folioAlloc(mm, 0);
        allocs++;
        mem.data[tmp] = mem.data[f]!; // copy_highpage(tmp, page)
        fromFolio++;
        total++;
        req.tempPages.push(tmp);
        yield* folioEndWriteback(mm, f); // end_page_writeback right after the copy
      } else {
        req.folios.push(f);
      }
      folioUnlock(mm, f);
      mount.conn.sendBackground(req);
    }
  });
  let locked = 0, wb = 0, extra = 0, migrated = 0;
  env.spawn("observer", function* (e) {
    yield e.sleep(100_000); // the server has read (and copied) every WRITE by now
    for (const f of folios) {
      if (mem.testFlag(f, PG.locked)) locked++;
      if (mem.testFlag(f, PG.writeback)) wb++;
      if (mem.refcount[f]! > folioExpectedRefCount(mm, f)) extra++;
    }
    const list = folios.filter((f) => isolateFolioForMigration(mm, f));
    const r = yield* migratePages(mm, list, allocMigrationTarget, "MIGRATE_ASYNC", "MR_COMPACTION");
    migrated = r.nrSucceeded;
    putbackMovablePages(mm, r.failed);
  });
  env.run({ maxTimeNs: 1e6 });
  return {
    variant,
    pages,
    memcpyFromFolioPerPage: fromFolio / pages,
    memcpyTotalPerPage: total / pages,
    allocsPerPage: allocs / pages,
    lockedAfterCopy: locked,
    writebackAfterCopy: wb,
    extraRefAfterCopy: extra,
    migratedAfterCopy: migrated,
  };
}

/**
 * One row of Joanne Koong's table (CLAIMS.md C0.5): MiB/s with and without temp pages.
 *
 * @example
 * ```ts
 * import { type CopyBenchRow, JOANNE_TEMP_PAGE_BENCH } from "@mmsim/mmsim";
 * const at = (bytes: number): CopyBenchRow =>
 *   JOANNE_TEMP_PAGE_BENCH.find((r) => r.writeBytes === bytes)!;
 * // Removing temp pages sped up 4 KiB and 1 MiB writes and slowed 1 KiB writes slightly.
 * if (!(at(4096).afterMiBs > at(4096).beforeMiBs) || !(at(1024).afterMiBs < at(1024).beforeMiBs)) {
 *   throw new Error();
 * }
 * ```
 */
export interface CopyBenchRow {
  /** write(2) size in bytes. */
  writeBytes: number;
  /** With temp pages (MiB/s). */
  beforeMiBs: number;
  /** Without temp pages (MiB/s). */
  afterMiBs: number;
}

/**
 * Joanne Koong's benchmark of removing FUSE's temp pages (the numbers CLAIMS.md quotes for
 * C0.5).
 *
 * @example
 * ```ts
 * import { JOANNE_TEMP_PAGE_BENCH } from "@mmsim/mmsim";
 * if (JOANNE_TEMP_PAGE_BENCH.length !== 3) throw new Error();
 * ```
 */
export const JOANNE_TEMP_PAGE_BENCH: readonly CopyBenchRow[] = [
  { writeBytes: 1024, beforeMiBs: 351, afterMiBs: 341 },
  { writeBytes: 4096, beforeMiBs: 1818, afterMiBs: 2246 },
  { writeBytes: 1 << 20, beforeMiBs: 1851, afterMiBs: 2685 },
];

/**
 * The fitted cost model of {@link calibrateCopyCost}.
 *
 * @example
 * ```ts
 * import { calibrateCopyCost, type CopyCostModel, copyModelMiBs } from "@mmsim/mmsim";
 * const m: CopyCostModel = calibrateCopyCost();
 * for (const r of m.rows) {
 *   if (r.modelMiBs !== copyModelMiBs(m, r.writeBytes, r.variant === "before")) throw new Error();
 * }
 * if (m.rows.filter((r) => r.variant === "before").length !== 3) throw new Error("3 write sizes");
 * ```
 */
export interface CopyCostModel {
  /** Per write(2) call (ns). */
  callNs: number;
  /** Per byte (ns). */
  byteNs: number;
  /** Per page of temp-page work: allocation + copy (ns). */
  tempPageNs: number;
  /** Per write(2) of less than a page (ns). */
  partialPageNs: number;
  /** Model vs table, MiB/s: one row per write size and variant. */
  rows: Array<
    { writeBytes: number; variant: "before" | "after"; tableMiBs: number; modelMiBs: number }
  >;
}

/**
 * Throughput (MiB/s) of the cost model for a write size, with or without temp pages.
 *
 * @example
 * ```ts
 * import { calibrateCopyCost, type CopyCostModel, copyModelMiBs } from "@mmsim/mmsim";
 * // 1 µs per call and nothing else: 1 MiB per µs is 10^6 MiB/s.
 * const flat: CopyCostModel = {
 *   callNs: 1000,
 *   byteNs: 0,
 *   tempPageNs: 0,
 *   partialPageNs: 0,
 *   rows: [],
 * };
 * if (Math.abs(copyModelMiBs(flat, 1 << 20, true) - 1e6) > 1e-6) throw new Error();
 * const m = calibrateCopyCost();
 * if (!(copyModelMiBs(m, 1 << 20, true) < copyModelMiBs(m, 1 << 20, false))) {
 *   throw new Error("temp-page work makes writes slower");
 * }
 * ```
 */
export function copyModelMiBs(m: CopyCostModel, writeBytes: number, temp: boolean): number {
  const pages = writeBytes / 4096;
  const ns = m.callNs + m.byteNs * writeBytes + (temp ? m.tempPageNs * pages : 0) +
    (writeBytes < 4096 ? m.partialPageNs : 0);
  return (writeBytes / (1 << 20)) / (ns / 1e9);
}

/**
 * Fit the cost model to `table` (default Joanne's): minimise Σ((T_model − T)/T)² over the six
 * times T per write(2), a linear least-squares problem in (callNs, byteNs, tempPageNs,
 * partialPageNs).
 *
 * @example
 * ```ts
 * import { calibrateCopyCost } from "@mmsim/mmsim";
 * const m = calibrateCopyCost();
 * if (!(m.tempPageNs > 0) || m.rows.length !== 6) throw new Error(JSON.stringify(m));
 * ```
 */
export function calibrateCopyCost(
  table: readonly CopyBenchRow[] = JOANNE_TEMP_PAGE_BENCH,
): CopyCostModel {
  const A: number[][] = [];
  for (const r of table) {
    for (const temp of [true, false]) {
      const mibs = temp ? r.beforeMiBs : r.afterMiBs;
      const tNs = (r.writeBytes / (mibs * (1 << 20))) * 1e9;
      A.push([
        1 / tNs,
        r.writeBytes / tNs,
        temp ? r.writeBytes / 4096 / tNs : 0,
        r.writeBytes < 4096 ? 1 / tNs : 0,
      ]);
    }
  }
  // Normal equations AᵀA p = Aᵀ1.
  const n = 4;
  const M = Array.from({ length: n }, () => Array(n + 1).fill(0) as number[]);
  for (const row of A) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) M[i]![j]! += row[i]! * row[j]!;
      M[i]![n]! += row[i]!;
    }
  }
  for (let i = 0; i < n; i++) {
    let p = i;
    for (let r = i + 1; r < n; r++) if (Math.abs(M[r]![i]!) > Math.abs(M[p]![i]!)) p = r;
    [M[i], M[p]] = [M[p]!, M[i]!];
    for (let r = 0; r < n; r++) {
      if (r === i) continue;
      const f = M[r]![i]! / M[i]![i]!;
      for (let c = i; c <= n; c++) M[r]![c]! -= f * M[i]![c]!;
    }
  }
  const p = M.map((row, i) => row[n]! / row[i]!);
  const model: CopyCostModel = {
    callNs: p[0]!,
    byteNs: p[1]!,
    tempPageNs: p[2]!,
    partialPageNs: p[3]!,
    rows: [],
  };
  for (const r of table) {
    model.rows.push({
      writeBytes: r.writeBytes,
      variant: "before",
      tableMiBs: r.beforeMiBs,
      modelMiBs: copyModelMiBs(model, r.writeBytes, true),
    });
    model.rows.push({
      writeBytes: r.writeBytes,
      variant: "after",
      tableMiBs: r.afterMiBs,
      modelMiBs: copyModelMiBs(model, r.writeBytes, false),
    });
  }
  return model;
}
