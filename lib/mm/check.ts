/**
 * The invariant checker of the mm model: the model's VM_BUG_ON_FOLIO / CONFIG_DEBUG_VM, run
 * by the engine after every step (or every n steps) and reporting each broken rule as a
 * violation (`env.violation`) with the step and time it was first seen.
 *
 * Rules (each violation is named `mm: <rule>`):
 * - `refcount`: `_refcount` ≥ 0 and `_mapcount` ≥ 0 on every frame (page_ref_count,
 *   VM_BUG_ON_PAGE(page_ref_count(page) <= 0) in folio_get);
 * - `free-frame`: PG_locked / PG_writeback never set on a free (PG.buddy) frame;
 * - `page-cache-refs`: a page-cache folio holds at least nr pages + PG_private + mapcount
 *   references (the page cache's, the private data's, the PTEs'), unless frozen (refcount 0
 *   while migration or split holds it);
 * - `mapping`: `folio->mapping`/`index` and the mapping's xarray agree both ways (every index
 *   of the folio loads the head; every xarray entry is a head of that mapping covering the
 *   index; `nrpages` counts the entries), and a folio whose mapping or index changed left no
 *   entry behind;
 * - `rmap`: `mapcount` equals the number of PTEs in the folio's reverse map (is at least that
 *   for folios of an unregistered mapping id, e.g. fragment.ts's movable stand-ins, whose
 *   mappings are a bare count), each of those PTEs is present and maps a page of the folio,
 *   and no PTE maps a free folio;
 * - `pincount`: a large folio's `_pincount` ≤ its refcount;
 * - `dirty-not-uptodate`: PG_dirty && !PG_uptodate — "dirty ⇒ uptodate" is a convention, not a
 *   law, so mappings listed in `allowDirtyNotUptodate` are exempt (netfs streaming writes keep
 *   folios dirty and not uptodate on purpose; Jan Kara's A state in thread 002 relies on it);
 * - `buddy`: the buddy free lists agree with frame state (`checkBuddy`, buddy_check.ts).
 *
 * Cost: each check compares four per-frame arrays (flags, refcount, mapcount, mapping) with a
 * shadow copy taken at the previous check — one tight loop per array — and applies the rules
 * only to the folios of frames that changed ("touched since the last step"), using the old
 * mapping/index from the shadow to check that a removed folio left no xarray entry. Every
 * `fullEvery` checks it runs every rule on every frame, every mapping and every PTE, plus the
 * buddy check. Cost is linear in frames: measured on a loaded 2-core sandbox (Deno 2), about
 * 20–30 µs per check at 512 frames and 0.3 ms at 16 Ki frames, a full scan 15–20 times that;
 * on large machines check `every` n steps. Use-after-free is not a rule here: holders
 * keep stale-safe FolioRefs and `mm.checkLive` reports a stale access where it happens.
 *
 * No kernel function checks all of this at once: the rules restate, for every frame after
 * every step, assertions the kernel makes in place with CONFIG_DEBUG_VM (VM_BUG_ON_FOLIO /
 * VM_BUG_ON_PAGE, include/linux/mmdebug.h) — `folio_get`'s refcount check
 * (include/linux/mm.h), the bad-page checks of `free_pages_prepare` (mm/page_alloc.c),
 * `filemap_unaccount_folio`'s VM_BUG_ON_FOLIO(folio_mapped) and the xarray consistency that
 * `__filemap_add_folio` / `page_cache_delete` maintain (mm/filemap.c), `__folio_mark_dirty`'s
 * WARN_ON_ONCE(!uptodate) (mm/page-writeback.c), read in the v6.10–v6.16 trees the other
 * modules cite. Left out: page_owner, KASAN (use-after-free is `mm.checkLive`'s job, above).
 *
 * @module
 */

import { AddressSpace } from "./address_space.ts";
import { checkBuddy } from "./buddy_check.ts";
import { NIL, PG } from "./memory.ts";
import type { MappingLike, Mm } from "./mm.ts";
import { mmapState, PTE } from "./mmap.ts";

/**
 * Options of {@link installMmChecker}.
 *
 * @example Dirty but not uptodate is allowed only where a filesystem does it on purpose
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, Mm, MmChecker, type MmCheckerOptions, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 256 } });
 * const netfs = AddressSpace.create(mm, { name: "netfs" }); // streaming writes
 * const ext4 = AddressSpace.create(mm, { name: "ext4" });
 * const opts: MmCheckerOptions = { allowDirtyNotUptodate: [netfs] };
 * const checker = new MmChecker(mm, opts);
 * for (const m of [netfs, ext4]) {
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, m, f, 0);
 *   mm.mem.setFlag(f, PG.dirty); // dirty, never read: !uptodate
 * }
 * const v = checker.checkNow();
 * if (v.length !== 1 || v[0]!.rule !== "dirty-not-uptodate" || mm.mem.mapping[v[0]!.pfn] !== ext4.id) {
 *   throw new Error(JSON.stringify(v));
 * }
 * ```
 */
export interface MmCheckerOptions {
  /**
   * Mappings (ids or objects) allowed to hold dirty && !uptodate folios: netfs streaming
   * writes, Jan Kara's A state (thread 002).
   */
  allowDirtyNotUptodate?: Iterable<number | MappingLike>;
  /** Check every `every` steps (default 1: after every step). */
  every?: number;
  /** Run the full scan (every frame, mapping, PTE, buddy lists) every `fullEvery` checks
   *  (default 64; 0 = only when {@link MmChecker.checkNow} is called). */
  fullEvery?: number;
  /** Include the buddy free-list check in full scans (default true). */
  buddy?: boolean;
  /** Stop reporting after this many violations (default 100). */
  maxViolations?: number;
}

/**
 * A violation found by {@link MmChecker.check}: the rule, the frame and the message.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, Mm, MmChecker, type MmViolation } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 3);
 * const checker = new MmChecker(mm);
 * mm.mem.index[f] = 4; // folio->index no longer matches the xarray
 * const v: MmViolation[] = checker.checkNow();
 * if (v[0]?.rule !== "mapping" || v[0].pfn !== f) throw new Error(JSON.stringify(v));
 * ```
 */
export interface MmViolation {
  /** Rule name (see the module doc). */
  rule: string;
  /** The frame concerned (-1 when not about one frame). */
  pfn: number;
  /** Message naming the object, the rule and the values. */
  message: string;
}

const BUDDY = 1 << PG.buddy;

function diffU32(x: Uint32Array, s: Uint32Array, mark: Uint8Array): void {
  for (let p = 0; p < x.length; p++) if (x[p] !== s[p]) mark[p] = 1;
}
function diffI32(x: Int32Array, s: Int32Array, mark: Uint8Array): void {
  for (let p = 0; p < x.length; p++) if (x[p] !== s[p]) mark[p] = 1;
}

const LOCKED = 1 << PG.locked;
const WRITEBACK = 1 << PG.writeback;

/**
 * The mm invariant checker. Create it with {@link installMmChecker} (runs after engine steps)
 * or directly, and call {@link MmChecker.check} / {@link MmChecker.checkNow} yourself.
 *
 * @example
 * ```ts
 * import { Engine, Mm, MmChecker, folioAlloc } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 256 } });
 * const checker = new MmChecker(mm);
 * const f = folioAlloc(mm, 0);
 * if (checker.checkNow().length !== 0) throw new Error("consistent");
 * mm.mem.refcount[f] = -1;                     // a deliberately broken refcount
 * if (checker.check()[0]?.rule !== "refcount") throw new Error("caught");
 * ```
 */
export class MmChecker {
  /** The context checked. */
  readonly mm: Mm;
  /** Options in force. */
  readonly options: Required<Omit<MmCheckerOptions, "allowDirtyNotUptodate">>;
  /** Mapping ids exempt from `dirty-not-uptodate`. */
  readonly allowDirtyNotUptodate: Set<number>;
  /** Counters: checks run, full scans, folios checked. */
  readonly stats = { checks: 0, fullScans: 0, foliosChecked: 0 };
  #shadow: {
    flags: Uint32Array;
    refcount: Int32Array;
    mapcount: Int32Array;
    mapping: Uint32Array;
    index: Uint32Array;
    generation: Uint32Array;
    order: Uint8Array;
    head: Int32Array;
  };
  #mark: Uint8Array;
  #reported = new Set<string>();
  #count = 0;

  /** Create a checker; the first {@link check} compares against the state at creation. */
  constructor(mm: Mm, options: MmCheckerOptions = {}) {
    this.mm = mm;
    this.options = {
      every: options.every ?? 1,
      fullEvery: options.fullEvery ?? 64,
      buddy: options.buddy ?? true,
      maxViolations: options.maxViolations ?? 100,
    };
    if (!(this.options.every >= 1) || !Number.isInteger(this.options.every)) {
      throw new RangeError(`installMmChecker: every must be an integer ≥ 1`);
    }
    this.allowDirtyNotUptodate = new Set(
      [...(options.allowDirtyNotUptodate ?? [])].map((m) => typeof m === "number" ? m : m.id),
    );
    const mem = mm.mem;
    this.#shadow = {
      flags: mem.flags.slice(),
      refcount: mem.refcount.slice(),
      mapcount: mem.mapcount.slice(),
      mapping: mem.mapping.slice(),
      index: mem.index.slice(),
      generation: mem.generation.slice(),
      order: mem.order.slice(),
      head: mem.head.slice(),
    };
    this.#mark = new Uint8Array(mem.nrFrames);
  }

  /**
   * Check the folios of frames that changed since the last check (and everything, every
   * `fullEvery` checks). Returns the new violations (each reported once per frame use).
   */
  check(): MmViolation[] {
    this.stats.checks++;
    const full = this.options.fullEvery > 0 && this.stats.checks % this.options.fullEvery === 0;
    return full ? this.checkNow() : this.#run(false);
  }

  /** Run every rule on every frame, mapping and PTE now, plus the buddy check. */
  checkNow(): MmViolation[] {
    this.stats.fullScans++;
    return this.#run(true);
  }

  #run(full: boolean): MmViolation[] {
    const out: MmViolation[] = [];
    const add = (rule: string, pfn: number, message: string) => {
      if (this.#count >= this.options.maxViolations) return;
      const gen = pfn >= 0 ? this.mm.mem.generation[pfn] : -1;
      const key = `${rule}:${pfn}:${gen}:${pfn < 0 ? message : ""}`;
      if (this.#reported.has(key)) return;
      this.#reported.add(key);
      this.#count++;
      out.push({ rule, pfn, message });
    };
    const heads = this.#collect(full, add);
    for (const h of heads) this.#checkFolio(h, add);
    this.stats.foliosChecked += heads.length;
    if (full) this.#fullScan(add);
    return out;
  }

  /**
   * Diff the frame arrays against the shadow; return the heads to check. Frame-level rules
   * (refcount, mapcount, free-frame) and stale xarray entries of removed folios are checked
   * here, using the shadow's old mapping/index.
   */
  #collect(full: boolean, add: (rule: string, pfn: number, m: string) => void): number[] {
    const mem = this.mm.mem;
    const n = mem.nrFrames;
    const mark = this.#mark;
    const s = this.#shadow;
    // Pass 1: mark changed frames, one tight loop per array.
    if (full) mark.fill(1);
    else {
      // flags, refcount, mapcount and mapping change in every transition the rules look at
      // (allocation, free, page-cache insertion and removal, mapping, split: the new heads'
      // flags and refcounts change); index, generation, order and head are compared in the
      // full scans and refreshed whenever a frame is seen to change.
      diffU32(mem.flags, s.flags, mark);
      diffI32(mem.refcount, s.refcount, mark);
      diffI32(mem.mapcount, s.mapcount, mark);
      diffU32(mem.mapping, s.mapping, mark);
    }
    // Pass 2: frame rules on the changed frames; collect their heads.
    const f = mem.flags, rc = mem.refcount, mc = mem.mapcount, mp = mem.mapping;
    const ix = mem.index, gen = mem.generation, ord = mem.order, hd = mem.head;
    const sMp = s.mapping, sIx = s.index, sGen = s.generation, sOrd = s.order, sHd = s.head;
    const heads: number[] = [];
    const headSeen = new Set<number>();
    for (let p = 0; p < n; p++) {
      if (mark[p] === 0) continue;
      mark[p] = 0;
      // A folio that left a mapping (or moved) must have left no entry behind.
      const oldMapping = sMp[p]!;
      if (
        !full && oldMapping !== 0 && sHd[p] === NIL &&
        (oldMapping !== mp[p] || sIx[p] !== ix[p] || gen[p] !== sGen[p])
      ) {
        const m = this.mm.mappings[oldMapping];
        if (m instanceof AddressSpace) {
          const oi = sIx[p]!, nr = 1 << sOrd[p]!;
          const stillThere = mp[p] === oldMapping && hd[p] === NIL;
          const lo = ix[p]!, hi = lo + (1 << ord[p]!);
          for (let i = oi; i < oi + nr; i++) {
            if (m.pages.load(i) === p && !(stillThere && i >= lo && i < hi)) {
              add(
                "mapping",
                p,
                `pfn ${p} left ${m.name} index ${i} (now mapping ${mp[p]} index ${ix[p]}) ` +
                  `but the xarray still maps index ${i} to it`,
              );
              break;
            }
          }
        }
      }
      s.flags[p] = f[p]!;
      s.refcount[p] = rc[p]!;
      s.mapcount[p] = mc[p]!;
      sMp[p] = mp[p]!;
      sIx[p] = ix[p]!;
      sGen[p] = gen[p]!;
      sOrd[p] = ord[p]!;
      sHd[p] = hd[p]!;
      if (rc[p]! < 0) add("refcount", p, `${this.mm.describeFolio(p)} has refcount ${rc[p]}`);
      if (mc[p]! < 0) add("refcount", p, `${this.mm.describeFolio(p)} has mapcount ${mc[p]}`);
      const fl = f[p]!;
      if ((fl & BUDDY) !== 0) {
        if ((fl & (LOCKED | WRITEBACK)) !== 0) {
          add(
            "free-frame",
            p,
            `free frame ${p} has ${(fl & LOCKED) ? "PG_locked" : "PG_writeback"} set`,
          );
        }
        continue;
      }
      const h = hd[p] === NIL ? p : hd[p]!;
      if (!headSeen.has(h)) {
        headSeen.add(h);
        heads.push(h);
      }
    }
    return heads;
  }

  #checkFolio(h: number, add: (rule: string, pfn: number, m: string) => void): void {
    const mm = this.mm, mem = mm.mem;
    const fl = mem.flags[h]!;
    if ((fl & BUDDY) !== 0) return;
    const rc = mem.refcount[h]!;
    const mc = mem.mapcount[h]!;
    const nr = 1 << mem.order[h]!;
    const st = mmapState(mm);
    const slots = st.rmap.get(h);
    const nslots = slots?.length ?? 0;
    // Mappings the model does not track PTE by PTE (an unregistered mapping id such as
    // fragment.ts's FRAGMENT_MAPPING: anonymous memory with a bare mapcount) may exceed the rmap.
    const untracked = mem.mapping[h] !== 0 && mm.mappings[mem.mapping[h]!] === undefined;
    if (untracked ? nslots > mc : nslots !== mc) {
      add("rmap", h, `${mm.describeFolio(h)} has mapcount ${mc} but ${nslots} PTE(s) in its rmap`);
    }
    if (slots) {
      for (const s of slots) {
        const i = s.index - s.vma.pgoff;
        const page = s.vma.ptePfn[i]!;
        if ((s.vma.pteBits[i]! & PTE.present) === 0 || page < h || page >= h + nr) {
          add(
            "rmap",
            h,
            `${mm.describeFolio(h)}: rmap slot ${s.vma.name} index ${s.index} maps pfn ${page} ` +
              `(bits ${s.vma.pteBits[i]}), not a page of the folio`,
          );
          break;
        }
      }
    }
    if (nr > 1) {
      const pc = st.pincount.get(h) ?? 0;
      if (pc > 0 && rc > 0 && pc > rc) {
        add("pincount", h, `${mm.describeFolio(h)} has _pincount ${pc} > refcount ${rc}`);
      }
    }
    const mid = mem.mapping[h]!;
    const m = mm.mappings[mid];
    // Only page-cache folios from here on (anonymous folios name an anon_vma).
    if (!(m instanceof AddressSpace)) return;
    if (rc > 0) {
      const need = nr + ((fl & (1 << PG.private)) !== 0 ? 1 : 0) + Math.max(mc, 0);
      if (rc < need) {
        add(
          "page-cache-refs",
          h,
          `${mm.describeFolio(h)} has refcount ${rc}, expected ≥ ${need} ` +
            `(${nr} page cache${(fl & (1 << PG.private)) ? " + 1 private" : ""} + ${mc} mapped)`,
        );
      }
    }
    {
      const idx = mem.index[h]!;
      for (let i = idx; i < idx + nr; i++) {
        const e = m.pages.load(i);
        if (e !== h) {
          add(
            "mapping",
            h,
            `${mm.describeFolio(h)} has mapping ${m.name} index ${idx} but the xarray maps ` +
              `index ${i} to ${e}`,
          );
          break;
        }
      }
    }
    if ((fl & (1 << PG.dirty)) !== 0 && (fl & (1 << PG.uptodate)) === 0) {
      if (!this.allowDirtyNotUptodate.has(mid)) {
        add(
          "dirty-not-uptodate",
          h,
          `${mm.describeFolio(h)} is dirty but not uptodate (mapping ${m.name} is not in ` +
            `allowDirtyNotUptodate)`,
        );
      }
    }
  }

  #fullScan(add: (rule: string, pfn: number, m: string) => void): void {
    const mm = this.mm, mem = mm.mem;
    // Mappings → folios.
    for (const ml of mm.mappings) {
      if (!(ml instanceof AddressSpace)) continue;
      let entries = 0;
      ml.pages.forEach((i, pfn) => {
        entries++;
        const ok = pfn >= 0 && pfn < mem.nrFrames && mem.head[pfn] === NIL &&
          mem.mapping[pfn] === ml.id && i >= mem.index[pfn]! &&
          i < mem.index[pfn]! + (1 << mem.order[pfn]!) && (mem.flags[pfn]! & BUDDY) === 0;
        if (!ok) {
          add(
            "mapping",
            pfn,
            `${ml.name} index ${i} maps pfn ${pfn}, which is ${
              pfn >= 0 && pfn < mem.nrFrames ? mm.describeFolio(pfn) : "out of range"
            } (order ${mem.order[pfn]}, head ${mem.head[pfn]}, flags 0x${
              mem.flags[pfn]?.toString(16)
            })`,
          );
        }
      });
      if (entries !== ml.nrpages) {
        add("mapping", -1, `${ml.name}: nrpages is ${ml.nrpages}, the xarray holds ${entries}`);
      }
    }
    // PTEs → rmap.
    const st = mmapState(mm);
    for (const vma of st.vmas) {
      for (let i = 0; i < vma.nrPages; i++) {
        const b = vma.pteBits[i]!;
        if ((b & PTE.present) === 0) continue;
        const page = vma.ptePfn[i]!;
        const h = mem.compoundHead(page);
        if ((mem.flags[h]! & BUDDY) !== 0 || mem.refcount[h]! <= 0) {
          add("rmap", h, `${vma.name} index ${vma.pgoff + i} maps pfn ${page}, a free frame`);
        }
        const slots = st.rmap.get(h);
        if (!slots || !slots.some((s) => s.vma === vma && s.index === vma.pgoff + i)) {
          add(
            "rmap",
            h,
            `${vma.name} index ${vma.pgoff + i} maps pfn ${page} but is not in the rmap of ` +
              `${mm.describeFolio(h)}`,
          );
        }
      }
    }
    if (this.options.buddy) {
      for (const v of checkBuddy(mm.zone, 10)) add("buddy", v.pfn, v.message);
    }
  }
}

/**
 * Install the mm invariant checker on `mm.env`: after every `every`-th engine step, check the
 * folios touched since the last check (and everything every `fullEvery` checks); each new
 * violation is recorded with `env.violation("mm: <rule>", message)` — a failed run in a unit
 * test, a finding with its trace in a scenario. Returns the checker (for `checkNow()` at the
 * end of a test and its counters).
 *
 * @example
 * ```ts
 * import { Engine, Mm, installMmChecker, folioAlloc } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * installMmChecker(mm);
 * env.spawn("buggy", function* (e) {
 *   const f = folioAlloc(mm, 0);
 *   mm.mem.refcount[f] = -2; // a refcount underflow the model did not catch
 *   yield e.point();
 * });
 * const r = env.run();
 * if (r.violations[0]?.name !== "mm: refcount") throw new Error("checker caught it");
 * ```
 */
export function installMmChecker(mm: Mm, options: MmCheckerOptions = {}): MmChecker {
  const checker = new MmChecker(mm, options);
  let steps = 0;
  mm.env.invariant("mm checker", () => {
    if (++steps % checker.options.every !== 0) return;
    for (const v of checker.check()) mm.env.violation(`mm: ${v.rule}`, v.message);
  });
  return checker;
}
