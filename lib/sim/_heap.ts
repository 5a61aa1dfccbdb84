/**
 * A binary min-heap of timed events ordered by `(timeNs, seq)`, stored in parallel arrays so a
 * push or pop allocates nothing once the arrays have grown.
 *
 * @module
 */

/** Min-heap of `(timeNs, seq, value)` ordered by time, then by insertion sequence. */
export class EventHeap<T> {
  #time: number[] = [];
  #seq: number[] = [];
  #val: (T | undefined)[] = [];
  #n = 0;

  /** Number of events in the heap. */
  get size(): number {
    return this.#n;
  }

  /** Time of the earliest event; Infinity when empty. */
  peekTime(): number {
    return this.#n === 0 ? Infinity : this.#time[0]!;
  }

  /** Insert an event. */
  push(timeNs: number, seq: number, value: T): void {
    let i = this.#n++;
    const time = this.#time, sq = this.#seq, val = this.#val;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = time[p]!;
      if (pt < timeNs || (pt === timeNs && sq[p]! < seq)) break;
      time[i] = pt;
      sq[i] = sq[p]!;
      val[i] = val[p];
      i = p;
    }
    time[i] = timeNs;
    sq[i] = seq;
    val[i] = value;
  }

  /** Remove and return the earliest event's value; undefined when empty. */
  pop(): T | undefined {
    const n = this.#n;
    if (n === 0) return undefined;
    const time = this.#time, sq = this.#seq, val = this.#val;
    const top = val[0];
    const last = n - 1;
    this.#n = last;
    if (last > 0) {
      const lt = time[last]!, ls = sq[last]!, lv = val[last];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= last) break;
        const r = l + 1;
        let c = l;
        if (r < last && (time[r]! < time[l]! || (time[r] === time[l] && sq[r]! < sq[l]!))) c = r;
        const ct = time[c]!;
        if (lt < ct || (lt === ct && ls < sq[c]!)) break;
        time[i] = ct;
        sq[i] = sq[c]!;
        val[i] = val[c];
        i = c;
      }
      time[i] = lt;
      sq[i] = ls;
      val[i] = lv;
    }
    val[last] = undefined;
    return top;
  }
}
