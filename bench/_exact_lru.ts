/**
 * An exact LRU cache simulator written independently of lib/mm/lru.ts, to check the replay's
 * pure-LRU miss count on the whole reference trace ("pure LRU must give the same count as any
 * exact LRU on the same trace").
 *
 * Design (lazy deletion, no linked lists): `lastUse[id]` is the request number of the id's most
 * recent request while it is cached, -1 otherwise; every request appends `(id, time)` to a FIFO
 * queue. To evict, pop queue entries until one is current (`lastUse[id] === time`): that id is
 * the least recently used. Each entry is pushed and popped once, so a run is O(requests).
 *
 * @module
 */

/** Misses of an exact LRU cache of `capacity` objects over `ids`. */
export function exactLruMisses(ids: Uint32Array, capacity: number): number {
  let maxId = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i]! > maxId) maxId = ids[i]!;
  const lastUse = new Int32Array(maxId + 1).fill(-1);
  const qId = new Uint32Array(ids.length), qTime = new Int32Array(ids.length);
  let qHead = 0, qTail = 0, size = 0, misses = 0;
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]!;
    if (lastUse[id]! < 0) {
      misses++;
      if (size === capacity) {
        for (;;) {
          const v = qId[qHead]!, vt = qTime[qHead]!;
          qHead++;
          if (lastUse[v] === vt) {
            lastUse[v] = -1;
            break;
          }
        }
      } else size++;
    }
    lastUse[id] = t;
    qId[qTail] = id;
    qTime[qTail] = t;
    qTail++;
  }
  return misses;
}
