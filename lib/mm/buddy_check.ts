/**
 * Consistency check of a zone's buddy free lists against frame state, for the invariant
 * checker (the model's equivalent of the kernel's VM_BUG_ON_PAGE checks in
 * `__free_one_page`, `__del_page_from_free_list` and `expand`, and of CONFIG_DEBUG_VM's
 * "page still on a free list" bad-page reports).
 *
 * Follows the invariants of mm/page_alloc.c after the v6.10 freelist hygiene series (Linux
 * v6.12): a free block is on the list of its pageblock's migratetype, and free buddies that
 * `__free_one_page` would merge are never both on the lists.
 *
 * @module
 */

import { MIGRATE, MIGRATE_TYPES, NIL, PG } from "./memory.ts";
import { migratetypeIsMergeable, type Zone } from "./buddy.ts";

const BUDDY = 1 << PG.buddy;

/**
 * One broken buddy invariant: the rule's name, the frame, and a readable message.
 *
 * @example
 * ```ts
 * import { type BuddyViolation, checkBuddy, PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 1024 }));
 * if (checkBuddy(zone).length !== 0) throw new Error("a fresh zone is consistent");
 * zone.nrFreePages -= 1; // NR_FREE_PAGES no longer matches the lists
 * const v: BuddyViolation[] = checkBuddy(zone);
 * if (v[0]?.rule !== "list-count" || !v[0].message.startsWith("list-count")) throw new Error(JSON.stringify(v));
 * ```
 */
export interface BuddyViolation {
  /** Short rule name, e.g. `"list-order"`, `"overlap"`, `"unmerged-buddies"`. */
  rule: string;
  /** The frame the violation is about. */
  pfn: number;
  /** Message naming the rule and the values. */
  message: string;
}

/**
 * Check every free list of `zone` against the frames and return the violations (at most
 * `limit`; empty when consistent). Rules:
 * - `list-link`: prev/next links agree and the list tail is the last entry;
 * - `list-count`: per (order, migratetype) counts, `nr_free`, NR_FREE_PAGES and
 *   NR_FREE_CMA_PAGES match the lists;
 * - `list-order` / `align` / `range`: a block on the order-k list has `order[pfn] = k`,
 *   PG.buddy, is aligned to 2^k and lies inside the zone;
 * - `list-migratetype`: it sits on the list of its pageblock's migratetype (every pageblock it
 *   covers, for blocks of at least pageblock_order);
 * - `overlap`: no frame belongs to two free blocks;
 * - `stray-buddy`: PG.buddy is set only on list heads;
 * - `free-frame-state`: frames of free blocks have refcount, mapcount, mapping 0, no head
 *   pointer, no flags besides PG.buddy on the head and order 0 except on the head;
 * - `unmerged-buddies`: no two free buddies that `__free_one_page` would have merged (at and
 *   above pageblock_order, buddies next to an isolated pageblock may stay apart, as in the
 *   kernel).
 *
 * Cost: one pass over the zone's frames plus the lists.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, MIGRATE, checkBuddy } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 4096 });
 * const zone = new Zone(mem);
 * zone.allocPages(3, MIGRATE.UNMOVABLE);
 * if (checkBuddy(zone).length !== 0) throw new Error("consistent");
 * mem.refcount[4095] = 1; // corrupt a free frame
 * if (checkBuddy(zone)[0]?.rule !== "free-frame-state") throw new Error("caught");
 * ```
 */
export function checkBuddy(zone: Zone, limit = 100): BuddyViolation[] {
  const out: BuddyViolation[] = [];
  const add = (rule: string, pfn: number, message: string) => {
    if (out.length < limit) out.push({ rule, pfn, message: `${rule}: ${message}` });
  };
  const mem = zone.mem;
  const start = zone.startPfn, end = zone.endPfn;
  const pb = zone.pageblockOrder;
  // 0 = not free, 1 = head of a listed free block, 2 = other frame of a listed free block.
  const state = new Uint8Array(end - start);
  let freePages = 0, cmaPages = 0;
  const seenLimit = end - start + 1;
  for (let order = 0; order <= zone.maxOrder; order++) {
    let nrFree = 0;
    for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
      const slot = order * MIGRATE_TYPES + mt;
      let count = 0;
      let prev = NIL;
      let pfn = zone.freeHead[slot]!;
      while (pfn !== NIL) {
        if (++count > seenLimit) {
          add("list-link", pfn, `list (order ${order}, migratetype ${mt}) has a cycle`);
          break;
        }
        if (pfn < start || pfn + (1 << order) > end) {
          add("range", pfn, `free block ${pfn} of order ${order} is outside [${start}, ${end})`);
          break;
        }
        if (mem.prev[pfn] !== prev) {
          add("list-link", pfn, `prev of ${pfn} is ${mem.prev[pfn]}, expected ${prev}`);
        }
        if ((mem.flags[pfn]! & BUDDY) === 0) {
          add("list-order", pfn, `free block ${pfn} on the order-${order} list lacks PG.buddy`);
        }
        if (mem.order[pfn] !== order) {
          add(
            "list-order",
            pfn,
            `free block ${pfn} on the order-${order} list has order ${mem.order[pfn]}`,
          );
        }
        if ((pfn & ((1 << order) - 1)) !== 0) {
          add("align", pfn, `free block ${pfn} of order ${order} is not aligned to ${1 << order}`);
        }
        const nPb = order > pb ? 1 << (order - pb) : 1;
        for (let i = 0; i < nPb; i++) {
          const bmt = mem.pageblockMigratetype[(pfn >>> pb) + i]!;
          if (bmt !== mt) {
            add(
              "list-migratetype",
              pfn,
              `free block ${pfn} of order ${order} is on the migratetype-${mt} list but its ` +
                `pageblock ${(pfn >>> pb) + i} is migratetype ${bmt}`,
            );
          }
        }
        for (let p = pfn; p < pfn + (1 << order); p++) {
          if (state[p - start] !== 0) {
            add("overlap", p, `frame ${p} is in free block ${pfn} and in another free block`);
            break;
          }
          state[p - start] = p === pfn ? 1 : 2;
        }
        if (mt !== MIGRATE.ISOLATE) freePages += 1 << order;
        if (mt === MIGRATE.CMA) cmaPages += 1 << order;
        prev = pfn;
        pfn = mem.next[pfn]!;
      }
      if (zone.freeTail[slot] !== prev) {
        add(
          "list-link",
          prev,
          `tail of list (order ${order}, mt ${mt}) is ${zone.freeTail[slot]}, expected ${prev}`,
        );
      }
      if (zone.nrFreeType[slot] !== count) {
        add(
          "list-count",
          prev,
          `list (order ${order}, mt ${mt}) holds ${count} blocks, counted ${zone.nrFreeType[slot]}`,
        );
      }
      nrFree += count;
    }
    if (zone.nrFree[order] !== nrFree) {
      add("list-count", NIL, `nr_free[${order}] is ${zone.nrFree[order]}, lists hold ${nrFree}`);
    }
  }
  if (zone.nrFreePages !== freePages) {
    add("list-count", NIL, `NR_FREE_PAGES is ${zone.nrFreePages}, lists hold ${freePages}`);
  }
  if (zone.nrFreeCmaPages !== cmaPages) {
    add("list-count", NIL, `NR_FREE_CMA_PAGES is ${zone.nrFreeCmaPages}, lists hold ${cmaPages}`);
  }
  for (let pfn = start; pfn < end; pfn++) {
    const s = state[pfn - start]!;
    const f = mem.flags[pfn]!;
    if (s === 0) {
      if ((f & BUDDY) !== 0) {
        add("stray-buddy", pfn, `frame ${pfn} has PG.buddy but is on no free list`);
      }
      continue;
    }
    const badFlags = s === 1 ? f & ~BUDDY : f;
    const badOrder = s === 1 ? 0 : mem.order[pfn]!;
    if (
      badFlags !== 0 || badOrder !== 0 || mem.refcount[pfn] !== 0 || mem.mapcount[pfn] !== 0 ||
      mem.mapping[pfn] !== 0 || mem.head[pfn] !== NIL
    ) {
      add(
        "free-frame-state",
        pfn,
        `free frame ${pfn}: flags 0x${badFlags.toString(16)}, order ${badOrder}, refcount ` +
          `${mem.refcount[pfn]}, mapcount ${mem.mapcount[pfn]}, mapping ${mem.mapping[pfn]}, ` +
          `head ${mem.head[pfn]}`,
      );
    }
    if (s === 1) {
      const order = mem.order[pfn]!;
      if (order < zone.maxOrder) {
        const buddy = pfn ^ (1 << order);
        if (
          buddy >= start && buddy < end && state[buddy - start] === 1 && mem.order[buddy] === order
        ) {
          const mt = mem.pageblockMigratetype[pfn >>> pb]!;
          const bmt = mem.pageblockMigratetype[buddy >>> pb]!;
          // Moving free pages into or out of MIGRATE_ISOLATE does not merge them: buddies of
          // at least pageblock_order may stay apart while either side is isolated
          // (unset_migratetype_isolate() merges them when the isolation ends).
          const isolated = mt === MIGRATE.ISOLATE || bmt === MIGRATE.ISOLATE;
          const mergeable = order < pb ||
            (!isolated &&
              (mt === bmt || (migratetypeIsMergeable(mt) && migratetypeIsMergeable(bmt))));
          if (mergeable && pfn < buddy) {
            add(
              "unmerged-buddies",
              pfn,
              `free blocks ${pfn} and ${buddy} of order ${order} are buddies but not merged`,
            );
          }
        }
      }
    }
  }
  return out;
}
