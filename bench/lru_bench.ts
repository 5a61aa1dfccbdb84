/**
 * `deno bench` for the LRU lists, the page-cache index and the replay (no permissions needed).
 *
 *     deno bench bench/lru_bench.ts
 *
 * Each replay bench replays 1 M requests of Zipf α = 1.0 over 100 k objects (generated in
 * memory, seeded) through a 10,000-page cache; the naive Map LRU (delete + set) runs 100 k.
 *
 * @module
 */

import { PhysMem } from "../lib/mm/memory.ts";
import { folioAddLru, folioMarkAccessed, Lruvec, PureLru } from "../lib/mm/lru.ts";
import { XArray } from "../lib/mm/_xarray.ts";
import { PageCacheReplay } from "../lib/workload/replay.ts";
import { Zipf } from "../lib/workload/zipf.ts";
import { Rng } from "../lib/sim/rng.ts";

const zipf = new Zipf(100_000, 1.0, new Rng(1));
const ids = Uint32Array.from({ length: 1_000_000 }, () => zipf.sampleId());
const CAP = 10_000;

Deno.bench("replay pure LRU, 1 M requests", { group: "replay", baseline: true }, () => {
  new PageCacheReplay({ capacityPages: CAP }).accessIds(ids);
});

Deno.bench("replay active/inactive, 1 M requests", { group: "replay" }, () => {
  new PageCacheReplay({ capacityPages: CAP, policy: "active_inactive" }).accessIds(ids);
});

Deno.bench("replay naive Map LRU (delete + set), 100 k requests", { group: "replay" }, () => {
  const map = new Map<number, number>();
  for (let i = 0; i < 100_000; i++) {
    const id = ids[i]!;
    if (map.has(id)) {
      map.delete(id);
      map.set(id, i);
    } else {
      if (map.size >= CAP) map.delete(map.keys().next().value!);
      map.set(id, i);
    }
  }
});

// Micro-benchmarks over 65,536 frames, 1 M operations each.
const N = 1 << 16;
const rng = new Rng(2);
const pfns = Uint32Array.from({ length: 1_000_000 }, () => rng.int(N));

const memLru = new PhysMem({ nrFrames: N });
const pure = new PureLru(memLru);
for (let p = 0; p < N; p++) pure.add(p);
Deno.bench("PureLru.access (move to head), 1 M", { group: "lists" }, () => {
  for (let i = 0; i < pfns.length; i++) pure.access(pfns[i]!);
});

const memVec = new PhysMem({ nrFrames: N });
const lruvec = new Lruvec(memVec);
for (let p = 0; p < N; p++) {
  memVec.refcount[p] = 1;
  folioAddLru(lruvec, p);
}
Deno.bench("folioMarkAccessed, 1 M", { group: "lists" }, () => {
  for (let i = 0; i < pfns.length; i++) folioMarkAccessed(lruvec, pfns[i]!);
});

const xa = new XArray(N);
for (let p = 0; p < N; p++) xa.store(p * 7919, p);
Deno.bench("XArray.load (hits), 1 M", { group: "xarray" }, () => {
  let s = 0;
  for (let i = 0; i < pfns.length; i++) s += xa.load(pfns[i]! * 7919);
  if (s < 0) throw new Error("unreachable");
});
Deno.bench("XArray.erase + store, 1 M", { group: "xarray" }, () => {
  for (let i = 0; i < pfns.length; i++) {
    const k = pfns[i]! * 7919;
    xa.store(k, xa.erase(k));
  }
});
