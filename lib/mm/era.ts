/**
 * Kernel eras: the behaviours the seed threads depend on that changed between kernel
 * versions, as switches with the commit that flipped each one.
 *
 * A scenario runs "as of" a kernel version; `kernelEra("5.9")` and `kernelEra("6.16")` give the
 * switches for that version, and any switch can be overridden to ask "what if". Versions marked
 * [U] in the docs below are inferred from commit dates, not read off a release.
 *
 * An era is a mainline x.y.0 release. Left out: stable backports (e.g. the split min-order fix
 * in 6.12.59), and behaviour changes no seed claim depends on (each module says which kernel
 * tree it follows otherwise).
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";

/**
 * The era switches. Each doc names the commit and the first version that behaves as `true`.
 *
 * @example
 * ```ts
 * import { KernelEra, KernelEraOverrides, kernelEra } from "@mmsim/mmsim";
 * const e = KernelEra.parse(kernelEra("6.12"));
 * if (e.endWritebackTakesRef !== true) throw new Error("6.12 has 073861ed77b6");
 * const bad = KernelEraOverrides.safeParse({ version: "six" });
 * if (bad.success || !bad.error.issues[0]!.path.includes("version")) throw new Error("names the field");
 * ```
 */
export interface KernelEra {
  /** The kernel version this era describes, "major.minor". */
  version: string;
  /**
   * folio_end_writeback() takes a folio reference around clear + wake: 073861ed77b6 "mm: fix
   * VM_BUG_ON(PageTail) and BUG_ON(PageWriteback)" (Hugh Dickins), v5.10 (stable 5.8+).
   */
  endWritebackTakesRef: boolean;
  /**
   * folio_wait_writeback() loops while PG_writeback is set: c2407cf7d22d "mm: make
   * wait_on_page_writeback() wait for multiple pending writebacks" (Linus), v5.11 [U].
   */
  waitWritebackLoops: boolean;
  /**
   * PG_private_2 (PG_fscache) is paired with a folio reference: "mm: Add an unlock function
   * for PG_private_2/PG_fscache" (David Howells), v5.13.
   */
  private2TakesRef: boolean;
  /**
   * Migration counts PG_private_2 in the expected references (page_has_private() included
   * it: `expected_page_refs()` in mm/migrate.c of the v5.15-era tree b0c9fedb); Hugh Dickins
   * (Sep 2025) notes migration stopped counting it around v6.0, when `folio_expected_refs()`
   * tested PG_private only [U].
   */
  migrateCountsPrivate2: boolean;
  /**
   * FUSE writeback copies into temporary pages and ends writeback at once; false after
   * 0c58a97f919c "fuse: remove tmp folio for writebacks and internal rb tree", v6.16 [U].
   */
  fuseTempPages: boolean;
  /**
   * Reclaim never waits on writeback of mappings flagged
   * AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM: 0c4f8ed498ce "mm: skip folio reclaim in legacy
   * memcg contexts for deadlockable mappings", v6.16 [U].
   */
  reclaimSkipsMayDeadlock: boolean;
  /**
   * fallback_migrate_folio() refuses dirty folios (-EBUSY) instead of writing them out in
   * MIGRATE_SYNC: "migrate: Remove call to ->writepage" (Matthew Wilcox), v6.16 [U].
   */
  fallbackMigrateRefusesDirty: boolean;
  /**
   * Non-uniform ("buddy-like") folio_split(): Zi Yan, merged for v6.15.
   */
  nonUniformSplit: boolean;
  /**
   * A split below the mapping's minimum folio order fails (-EINVAL) instead of silently
   * raising the target order: "mm/huge_memory: do not change split_huge_page*() target order
   * silently" (Zi Yan, Nov 2025, via mm-hotfixes), v6.18, backported to stable 6.12.59 and
   * 6.17.9 (a "6.12" era here means 6.12.0). Min-order mappings exist since v6.12.
   */
  splitBelowMinOrderFails: boolean;
  /** Minimum-order page-cache folios (large block sizes), v6.12. */
  minOrderMappings: boolean;
}

const kernelEraSchema = z.object({
  /** The kernel version this era describes, "major.minor". */
  version: z.string().regex(/^\d+\.\d+$/, "version must look like 6.12"),
  /**
   * folio_end_writeback() takes a folio reference around clear + wake: 073861ed77b6 "mm: fix
   * VM_BUG_ON(PageTail) and BUG_ON(PageWriteback)" (Hugh Dickins), v5.10 (stable 5.8+).
   */
  endWritebackTakesRef: z.boolean(),
  /**
   * folio_wait_writeback() loops while PG_writeback is set: c2407cf7d22d "mm: make
   * wait_on_page_writeback() wait for multiple pending writebacks" (Linus), v5.11 [U].
   */
  waitWritebackLoops: z.boolean(),
  /**
   * PG_private_2 (PG_fscache) is paired with a folio reference: "mm: Add an unlock function
   * for PG_private_2/PG_fscache" (David Howells), v5.13.
   */
  private2TakesRef: z.boolean(),
  /**
   * Migration counts PG_private_2 in the expected references (page_has_private() included
   * it); Hugh Dickins (Sep 2025) notes migration stopped counting it around v6.0 [U].
   */
  migrateCountsPrivate2: z.boolean(),
  /**
   * FUSE writeback copies into temporary pages and ends writeback at once; false after
   * 0c58a97f919c "fuse: remove tmp folio for writebacks and internal rb tree", v6.16 [U].
   */
  fuseTempPages: z.boolean(),
  /**
   * Reclaim never waits on writeback of mappings flagged
   * AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM: 0c4f8ed498ce "mm: skip folio reclaim in legacy
   * memcg contexts for deadlockable mappings", v6.16 [U].
   */
  reclaimSkipsMayDeadlock: z.boolean(),
  /**
   * fallback_migrate_folio() refuses dirty folios (-EBUSY) instead of writing them out in
   * MIGRATE_SYNC: "migrate: Remove call to ->writepage" (Matthew Wilcox), v6.16 [U].
   */
  fallbackMigrateRefusesDirty: z.boolean(),
  /**
   * Non-uniform ("buddy-like") folio_split(): Zi Yan, merged for v6.15.
   */
  nonUniformSplit: z.boolean(),
  /**
   * A split below the mapping's minimum folio order fails (-EINVAL) instead of silently
   * raising the target order: "mm/huge_memory: do not change split_huge_page*() target order
   * silently" (Zi Yan, Nov 2025, via mm-hotfixes), v6.18, backported to stable 6.12.59 and
   * 6.17.9 (a "6.12" era here means 6.12.0). Min-order mappings exist since v6.12.
   */
  splitBelowMinOrderFails: z.boolean(),
  /** Minimum-order page-cache folios (large block sizes), v6.12. */
  minOrderMappings: z.boolean(),
});
const _eraTypes: Same<z.output<typeof kernelEraSchema>, KernelEra> = true;
void _eraTypes;

/** Schema of complete era switch sets (see {@link kernelEra} to build one from a version). */
export const KernelEra: ConfigSchema<KernelEra, KernelEra> = defineConfig(
  "KernelEra",
  kernelEraSchema,
);

/**
 * Schema of era overrides (any subset of the switches).
 *
 * @example
 * ```ts
 * import { Engine, KernelEraOverrides, Mm } from "@mmsim/mmsim";
 * const era = KernelEraOverrides.parse({ fallbackMigrateRefusesDirty: false });
 * // v6.16, but with the pre-2025 fallback_migrate_folio that writes dirty folios out.
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 }, version: "6.16", era });
 * if (mm.era.fallbackMigrateRefusesDirty || !mm.era.endWritebackTakesRef) throw new Error("override only that switch");
 * if (KernelEraOverrides.safeParse({ waitWritebackLoops: "yes" }).success) throw new Error("switches are booleans");
 * ```
 */
export const KernelEraOverrides: ConfigSchema<Partial<KernelEra>, Partial<KernelEra>> =
  defineConfig(
    "KernelEraOverrides",
    kernelEraSchema.partial(),
  );

function ver(v: string): number {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  if (!m) throw new RangeError(`kernelEra: version must look like "6.12", got "${v}"`);
  return Number(m[1]) * 1000 + Number(m[2]);
}

/**
 * The era switches of a kernel version, with optional overrides.
 *
 * @example
 * ```ts
 * import { kernelEra } from "@mmsim/mmsim";
 * const old = kernelEra("5.9");
 * const now = kernelEra("6.16");
 * if (old.endWritebackTakesRef || !now.endWritebackTakesRef) throw new Error("073861ed77b6 is in 5.10");
 * const whatIf = kernelEra("6.16", { fuseTempPages: true });
 * if (!whatIf.fuseTempPages) throw new Error("override");
 * ```
 */
export function kernelEra(version: string, overrides: Partial<KernelEra> = {}): KernelEra {
  const v = ver(version);
  const since = (s: string) => v >= ver(s);
  return kernelEraSchema.parse({
    version,
    endWritebackTakesRef: since("5.10"),
    waitWritebackLoops: since("5.11"),
    private2TakesRef: since("5.13"),
    migrateCountsPrivate2: !since("6.0"),
    fuseTempPages: !since("6.16"),
    reclaimSkipsMayDeadlock: since("6.16"),
    fallbackMigrateRefusesDirty: since("6.16"),
    nonUniformSplit: since("6.15"),
    splitBelowMinOrderFails: since("6.18"),
    minOrderMappings: since("6.12"),
    ...overrides,
  });
}
