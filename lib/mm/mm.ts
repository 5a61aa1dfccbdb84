/**
 * The memory-management context a scenario builds on: one node with one zone of physical
 * frames, its buddy allocator, LRU lists, the hashed folio wait table, vmstat counters, the
 * registry of address spaces, and the kernel era the scenario runs as.
 *
 * Everything kernel-global that mm/ code reaches through `struct pglist_data`, `struct zone`,
 * `folio_wait_table` and `vm_event_states` lives here; the operations are free functions named
 * after the kernel's (`folioGet(mm, folio)`, `filemapAddFolio(mm, mapping, folio, index)` …).
 * A folio is named by its head pfn. Holders that may outlive a folio keep a {@link FolioRef}
 * (pfn + generation) and check it before touching the frame: a stale access is recorded as a
 * use-after-free violation, the simulated KASAN report.
 *
 * Left out: more than one node or zone per Mm (a scenario may build several zones on one
 * PhysMem through `lib/mm/buddy.ts`), per-CPU page lists, memcg charging.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { Engine, Task } from "../sim/engine.ts";
import type { WaitTarget } from "../sim/wait_queue.ts";
import { WaitTable } from "../sim/wait_table.ts";
import { Zone, ZoneConfig, type ZoneConfigInput } from "./buddy.ts";
import { type KernelEra, kernelEra, KernelEraOverrides } from "./era.ts";
import { Lruvec, LruvecConfig, type LruvecOptions } from "./lru.ts";
import { PG, PhysMem, PhysMemConfig, type PhysMemConfigInput } from "./memory.ts";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, nested } from "../_config.ts";
import { VmStat } from "./vmstat.ts";
import { __folioPut } from "./folio.ts";

/**
 * Configuration of an {@link Mm}.
 *
 * @example
 * ```ts
 * import { MmConfig } from "@mmsim/mmsim";
 * const c = MmConfig.parse({ memory: { nrFrames: 4096 }, version: "5.9" });
 * if (c.waitTableBits !== 8) throw new Error("PAGE_WAIT_TABLE_BITS");
 * ```
 */
export interface MmConfig {
  /** Physical memory (frames, base page size); default 16,384 frames. */
  memory: PhysMemConfig;
  /** The zone over all frames (watermarks, CMA ranges). */
  zone: ZoneConfig;
  /** LRU configuration. */
  lru: LruvecConfig;
  /** Kernel version the scenario runs as ("major.minor"), default "6.12". */
  version: string;
  /** Era switches overriding those of `version` ("what if"). */
  era: Partial<KernelEra>;
  /** log2 of the folio wait table size (PAGE_WAIT_TABLE_BITS = 8 in mm/filemap.c). */
  waitTableBits: number;
}

/**
 * Input of {@link MmConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { Engine, Mm, type MmConfigInput } from "@mmsim/mmsim";
 * // A v5.9 kernel, asked "what if folio_wait_writeback already looped?"
 * const input: MmConfigInput = { memory: { nrFrames: 512 }, version: "5.9", era: { waitWritebackLoops: true } };
 * const mm = new Mm(new Engine(), input);
 * if (mm.era.endWritebackTakesRef || !mm.era.waitWritebackLoops) throw new Error("era");
 * if (mm.zone.managedPages !== 512) throw new Error("one zone over all frames");
 * ```
 */
export interface MmConfigInput {
  /** Physical memory. */
  memory?: PhysMemConfigInput;
  /** The zone. */
  zone?: ZoneConfigInput;
  /** LRU configuration. */
  lru?: LruvecOptions;
  /** Kernel version ("major.minor"). */
  version?: string;
  /** Era overrides. */
  era?: Partial<KernelEra>;
  /** log2 of the folio wait table size. */
  waitTableBits?: number;
}

const mmSchema = z.object({
  memory: nested(PhysMemConfig, { nrFrames: 16384 }),
  zone: nested(ZoneConfig),
  lru: nested(LruvecConfig),
  version: z.string().regex(/^\d+\.\d+$/, "version must look like 6.12").default("6.12"),
  era: nested(KernelEraOverrides),
  waitTableBits: z.number().int().min(0).max(16).default(8),
});

/** The {@link MmConfig} schema. */
export const MmConfig: ConfigSchema<MmConfig, MmConfigInput> = defineConfig(
  "MmConfig",
  mmSchema as unknown as z.ZodType<MmConfig, MmConfigInput>,
);

/**
 * A folio reference that can tell when its frame was freed and reused: pfn + generation.
 *
 * @example A holder that outlives the folio is caught, like KASAN would
 * ```ts
 * import { Engine, folioAlloc, type FolioRef, folioPut, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * const ref: FolioRef = mm.ref(f); // e.g. held by a pending I/O request
 * folioPut(mm, f); // freed while the request still points at it
 * if (mm.checkLive(ref, "end_io")) throw new Error("stale");
 * if (env.violations[0]?.name !== "use-after-free") throw new Error("reported");
 * ```
 */
export interface FolioRef {
  /** Head pfn. */
  readonly pfn: number;
  /** `generation[pfn]` when the reference was taken. */
  readonly gen: number;
}

/**
 * An address space as the Mm registry sees it (the full type is in filemap.ts).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, type MappingLike } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * // An anon_vma-like owner registers without `kind`; an address space is a "file" mapping.
 * const anon: MappingLike = mm.registerMapping((id) => ({ id, name: `anon_vma ${id}` }));
 * const file: MappingLike = AddressSpace.create(mm, { name: "file" });
 * if (mm.isFileMapping(anon.id) || !mm.isFileMapping(file.id)) throw new Error("PAGE_MAPPING_ANON");
 * ```
 */
export interface MappingLike {
  /** Mapping id (index in `mm.mappings`), never 0. */
  readonly id: number;
  /** A short name for reports ("fuse inode 1"). */
  readonly name: string;
  /** "file" for an address space (page cache); absent for an anon_vma-like owner. */
  readonly kind?: "file";
}

/**
 * The memory-management context.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioPut } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * const folio = folioAlloc(mm, 0);
 * if (folio < 0) throw new Error("allocation failed");
 * folioPut(mm, folio); // last reference: back to the buddy allocator
 * if (mm.zone.nrFreePages !== 1024) throw new Error("frame not freed");
 * ```
 */
export class Mm {
  /** The engine this context runs on. */
  readonly env: Engine;
  /** Parsed configuration. */
  readonly config: MmConfig;
  /** Era switches. */
  readonly era: KernelEra;
  /** Physical frames. */
  readonly mem: PhysMem;
  /** The zone and its buddy allocator. */
  readonly zone: Zone;
  /** LRU lists. */
  readonly lruvec: Lruvec;
  /** The hashed folio wait table (folio_wait_table). */
  readonly waitTable: WaitTable;
  /** Counters. */
  readonly vmstat = new VmStat();
  /** Address spaces by id; index 0 is unused (NO_MAPPING). */
  readonly mappings: (MappingLike | undefined)[] = [undefined];
  /** Who holds a folio's bit (PG_locked, PG_writeback …), for wait-for graphs: key pfn*32+bit. */
  readonly bitHolders = new Map<number, Task | WaitTarget>();
  /** Private payloads by handle (folio->private). */
  readonly privates = new Map<number, unknown>();
  /** Last content tag handed out (see `newContentTag`). */
  contentTag = 0;
  /** Called when a folio is freed to the buddy allocator (pfn, order). */
  readonly onFree: ((pfn: number, order: number) => void)[] = [];
  #nextPrivate = 1;

  /** Create the context on an engine. */
  constructor(env: Engine, config: MmConfigInput = {}) {
    const c = MmConfig.parse(config);
    this.env = env;
    this.config = c;
    this.era = kernelEra(c.version, c.era);
    this.mem = new PhysMem(c.memory);
    this.zone = new Zone(this.mem, c.zone);
    this.lruvec = new Lruvec(this.mem, c.lru);
    // folio_putback_lru() dropping the last reference frees through __folio_put.
    this.lruvec.freeFolio = (pfn) => __folioPut(this, pfn);
    const mem = this.mem;
    this.waitTable = new WaitTable("folio_wait_table", {
      testBit: (pfn, bit) => mem.testFlag(pfn, bit),
      testAndSetBit: (pfn, bit) => mem.testAndSetFlag(pfn, bit),
      setWaiters: (pfn) => mem.setFlag(pfn, PG.waiters),
      clearWaiters: (pfn) => mem.clearFlag(pfn, PG.waiters),
      describe: (pfn, bit) => this.describeBit(pfn, bit),
      holders: (pfn, bit) => {
        const h = this.bitHolders.get(pfn * 32 + bit);
        return h ? [h] : [];
      },
    }, c.waitTableBits);
  }

  /** Register an address space and return its id. */
  registerMapping(make: (id: number) => MappingLike): MappingLike {
    const m = make(this.mappings.length);
    if (m.id !== this.mappings.length) {
      throw new Error(`registerMapping: id must be ${this.mappings.length}, got ${m.id}`);
    }
    this.mappings.push(m);
    return m;
  }

  /**
   * True if mapping id `id` is a file's address space: folio->mapping pointing at an
   * address_space rather than an anon_vma (PAGE_MAPPING_ANON clear). Unregistered non-zero ids
   * (fragment.ts's FRAGMENT_MAPPING) count as anonymous.
   */
  isFileMapping(id: number): boolean {
    return id !== 0 && this.mappings[id]?.kind === "file";
  }

  /** Store a private payload; returns its handle for `mem.private[pfn]`. */
  storePrivate(data: unknown): number {
    const h = this.#nextPrivate++;
    this.privates.set(h, data);
    return h;
  }

  /** Record who holds `bit` of folio `pfn` (null to clear), for wait-for graphs. */
  setBitHolder(pfn: number, bit: number, holder: Task | WaitTarget | null): void {
    if (holder) this.bitHolders.set(pfn * 32 + bit, holder);
    else this.bitHolders.delete(pfn * 32 + bit);
  }

  /** A reference that remembers the frame's current use. */
  ref(pfn: number): FolioRef {
    return { pfn, gen: this.mem.generation[pfn]! };
  }

  /** True while `ref` still names the same use of its frame and the frame is allocated. */
  isLive(ref: FolioRef): boolean {
    return this.mem.generation[ref.pfn] === ref.gen && this.mem.refcount[ref.pfn]! > 0;
  }

  /**
   * Check a reference before an access: records a `use-after-free` violation (the simulated
   * KASAN report) and returns false when the frame was freed or reused since.
   */
  checkLive(ref: FolioRef, action: string): boolean {
    if (this.isLive(ref)) return true;
    const g = this.mem.generation[ref.pfn]!;
    this.env.violation(
      "use-after-free",
      `${action}: pfn ${ref.pfn} was freed` +
        (g !== ref.gen ? ` and reused (generation ${ref.gen} → ${g})` : ` (refcount 0)`),
    );
    return false;
  }

  /** "PG_writeback of pfn 12 (gen 3, fuse inode 1 index 4)". */
  describeBit(pfn: number, bit: number): string {
    return `PG_${bitName(bit)} of ${this.describeFolio(pfn)}`;
  }

  /** "pfn 12 (gen 3, fuse inode 1 index 4)". */
  describeFolio(pfn: number): string {
    const mem = this.mem;
    const m = this.mappings[mem.mapping[pfn]!];
    const where = m ? `, ${m.name} index ${mem.index[pfn]}` : "";
    return `pfn ${pfn} (gen ${mem.generation[pfn]}${where})`;
  }
}

const BIT_NAMES = new Map<number, string>();
for (const [k, v] of Object.entries(PG)) if (!BIT_NAMES.has(v)) BIT_NAMES.set(v, k);

/**
 * The kernel name of a PG bit number (`reclaim` for the shared readahead/reclaim bit).
 *
 * @example
 * ```ts
 * import { bitName, PG } from "@mmsim/mmsim";
 * if (bitName(PG.private_2) !== "private_2") throw new Error("PG_private_2");
 * if (bitName(PG.readahead) !== "reclaim") throw new Error("the shared bit is named PG_reclaim");
 * if (bitName(30) !== "bit30") throw new Error("unnamed bits");
 * ```
 */
export function bitName(bit: number): string {
  return BIT_NAMES.get(bit) ?? `bit${bit}`;
}
