import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  encodeOracleGeneral,
  LRU_ACTIVE_FILE,
  LRU_INACTIVE_FILE,
  NIL,
  OracleGeneralBatch,
  PageCacheReplay,
  PG,
  replayCsvTrace,
  replayOracleGeneral,
  Zipf,
} from "../../../mod.ts";
import { testRng } from "./_rng.ts";

/**
 * Reference exact LRU, slow and obvious: remember each cached object's last access time; on a
 * miss with a full cache, evict the cached object whose last access is oldest.
 */
function referenceLruMisses(ids: ArrayLike<number>, capacity: number): number {
  const lastAccess = new Map<number, number>(); // cached object -> time of last access
  let misses = 0;
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]!;
    if (!lastAccess.has(id)) {
      misses++;
      if (lastAccess.size === capacity) {
        let victim = -1, oldest = Infinity;
        for (const [obj, time] of lastAccess) {
          if (time < oldest) {
            oldest = time;
            victim = obj;
          }
        }
        lastAccess.delete(victim);
      }
    }
    lastAccess.set(id, t); // overwriting a value never reorders anything we read
  }
  return misses;
}

/** Cross-check a replay's index, lists and counters. */
function checkReplay(r: PageCacheReplay): void {
  const s = r.stats();
  assert.equal(s.hits + s.misses, s.requests);
  assert.equal(s.misses - s.evictions, r.nrCached);
  assert.ok(r.nrCached <= r.config.capacityPages);
  const xa = r.mappingIndex(1);
  assert.equal(xa.size, r.nrCached);
  xa.forEach((index, pfn) => {
    assert.equal(r.mem.index[pfn], index);
    assert.ok(r.mem.testFlag(pfn, PG.lru), `cached frame ${pfn} is on the LRU`);
  });
  if (r.lruvec !== null) {
    const n = r.lruvec.nrPages;
    assert.equal(n[LRU_INACTIVE_FILE]! + n[LRU_ACTIVE_FILE]!, r.nrCached);
    for (const lru of [LRU_INACTIVE_FILE, LRU_ACTIVE_FILE]) {
      let count = 0;
      for (let p: number = r.lruvec.lists[lru]!.first; p !== NIL; p = r.mem.next[p]!) {
        assert.equal(r.mem.testFlag(p, PG.active), lru === LRU_ACTIVE_FILE);
        count++;
      }
      assert.equal(count, n[lru]);
    }
  } else assert.equal(r.pureLru!.nrPages, r.nrCached);
}

Deno.test("pure LRU replay gives exactly the misses of a reference LRU", async (t) => {
  await t.step("random traces and capacities (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 300, size: "large" }),
        fc.integer({ min: 1, max: 35 }),
        (ids, capacity) => {
          const r = new PageCacheReplay({ capacityPages: capacity });
          r.accessIds(Uint32Array.from(ids));
          assert.equal(r.misses, referenceLruMisses(ids, capacity));
          checkReplay(r);
        },
      ),
      { numRuns: 300 },
    );
  });
  await t.step("a Zipf(1.0) trace of 20 000 requests over 2 000 objects", () => {
    const z = new Zipf(2_000, 1.0, testRng(99));
    const ids = Uint32Array.from({ length: 20_000 }, () => z.sampleId());
    for (const capacity of [1, 10, 200, 1_999, 2_000]) {
      const r = new PageCacheReplay({ capacityPages: capacity });
      r.accessIds(ids);
      assert.equal(r.misses, referenceLruMisses(ids, capacity), `capacity ${capacity}`);
      checkReplay(r);
    }
  });
  await t.step("access(), accessIds() and the oracleGeneral path agree", async () => {
    const z = new Zipf(500, 0.8, testRng(5));
    const ids = Uint32Array.from({ length: 5_000 }, () => z.sampleId());
    const a = new PageCacheReplay({ capacityPages: 50 });
    for (const id of ids) a.access(1, id);
    const b = new PageCacheReplay({ capacityPages: 50 });
    b.accessIds(ids);
    const batch = new OracleGeneralBatch(ids.length);
    for (const id of ids) batch.push(0, id, 4096, -1);
    const c = await replayOracleGeneral(
      ReadableStream.from([encodeOracleGeneral(batch)]),
      { capacityPages: 50 },
    );
    assert.deepEqual(a.stats(), b.stats());
    assert.deepEqual(b.stats(), c);
  });
});

Deno.test("active/inactive replay keeps the kernel's lists consistent", async (t) => {
  await t.step("random traces, both folio_referenced models, several batches", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 400, size: "large" }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom("no_ptes" as const, "pg_referenced" as const),
        fc.integer({ min: 1, max: 40 }),
        (ids, capacity, folioReferenced, reclaimBatch) => {
          const r = new PageCacheReplay({
            capacityPages: capacity,
            policy: "active_inactive",
            folioReferenced,
            reclaimBatch,
          });
          for (let i = 0; i < ids.length; i += 37) {
            r.accessIds(Uint32Array.from(ids), i, Math.min(ids.length, i + 37));
            checkReplay(r);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
  await t.step("reclaim frees SWAP_CLUSTER_MAX pages at a time", () => {
    const r = new PageCacheReplay({ capacityPages: 100, policy: "active_inactive" });
    r.accessIds(Uint32Array.from({ length: 101 }, (_, i) => i));
    assert.equal(r.evictions, 32);
    assert.equal(r.nrCached, 69);
    checkReplay(r);
  });
  await t.step("a hot set touched twice survives a one-time scan; pure LRU loses it", () => {
    const hot = Array.from({ length: 10 }, (_, i) => i);
    const scan = Array.from({ length: 1_000 }, (_, i) => 1_000 + i);
    const ids = Uint32Array.from([...hot, ...hot, ...scan, ...hot]);
    const ai = new PageCacheReplay({ capacityPages: 100, policy: "active_inactive" });
    ai.accessIds(ids);
    const lru = new PageCacheReplay({ capacityPages: 100 });
    lru.accessIds(ids);
    assert.equal(ai.hits, 20, "second touch and the final pass all hit");
    assert.equal(lru.hits, 10, "the scan flushed the hot set");
    checkReplay(ai);
  });
  await t.step("a reclaimed frame is reused with a new generation", () => {
    const r = new PageCacheReplay({ capacityPages: 1, policy: "active_inactive" });
    r.access(1, 5);
    const g = r.mem.generation[0]!;
    r.access(1, 6);
    assert.equal(r.mem.generation[0], g + 1);
    assert.equal(r.mem.index[0], 6);
    assert.equal(r.mappingIndex(1).load(5), -1);
  });
});

Deno.test("replay input checks and the CSV path", async (t) => {
  await t.step("object ids of 2^32 and above are rejected", () => {
    const b = new OracleGeneralBatch(1);
    b.push(0, 2 ** 32, 4096, -1);
    const r = new PageCacheReplay({ capacityPages: 4 });
    assert.throws(() => r.accessOracleBatch(b), /object id 4294967296 does not fit/);
  });
  await t.step("different inodes are different mappings", async () => {
    const csv = "0,10,0,read\n1,20,0,read\n2,10,0,read\n3,20,0,write\n4,30,0,read\n";
    const s = await replayCsvTrace(csv, { capacityPages: 2 });
    assert.deepEqual(s, { requests: 5, hits: 2, misses: 3, evictions: 1 });
  });
  await t.step("mapping ids start at 1", () => {
    const r = new PageCacheReplay({ capacityPages: 2 });
    assert.throws(() => r.access(0, 1), /mapping id must be an integer >= 1, got 0/);
  });
});
