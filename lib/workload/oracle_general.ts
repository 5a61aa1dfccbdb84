/**
 * libCacheSim's `oracleGeneral` binary traces: a streaming reader and a writer.
 *
 * Each record is 24 bytes, little endian, packed (libCacheSim
 * traceReader/customizedReader/oracle/oracleGeneralBin.h and bin/traceUtils/
 * traceConvOracleGeneral.cpp):
 *
 * | offset | type    | field               |
 * | ------ | ------- | ------------------- |
 * | 0      | uint32  | clock_time          |
 * | 4      | uint64  | obj_id              |
 * | 12     | uint32  | obj_size            |
 * | 16     | int64   | next_access_vtime   |
 *
 * `next_access_vtime` is the 1-based position in the trace of the next request for the same
 * object (traceConv: "reference count starts with 1"), or -1 if there is none; libCacheSim also
 * reads INT64_MAX as "none", and so does this reader (both become -1).
 *
 * Records are decoded into struct-of-arrays batches, never one object per record. Object ids
 * are kept exactly as two uint32 halves. Not a kernel structure.
 *
 * @module
 */

/**
 * Bytes per oracleGeneral record.
 *
 * @example
 * ```ts
 * import {
 *   encodeOracleGeneral,
 *   OracleGeneralBatch,
 *   ORACLE_GENERAL_RECORD_BYTES,
 * } from "@mmsim/mmsim";
 * const b = new OracleGeneralBatch(3);
 * for (const id of [1, 2, 1]) b.push(0, id, 4096, -1);
 * const bytes = encodeOracleGeneral(b);
 * if (bytes.length !== 3 * ORACLE_GENERAL_RECORD_BYTES) throw new Error("24 bytes per record");
 * ```
 */
export const ORACLE_GENERAL_RECORD_BYTES = 24;

const TWO32 = 2 ** 32;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * A batch of trace records as struct-of-arrays typed arrays. Readers reuse one batch: its
 * contents are valid until the next batch is requested.
 *
 * @example
 * ```ts
 * const b = new OracleGeneralBatch(4);
 * b.push(10, 2 ** 40 + 3, 4096, -1);
 * if (b.objId(0) !== 2 ** 40 + 3 || b.objIdHi[0] !== 256) throw new Error("uint64 id");
 * ```
 */
export class OracleGeneralBatch {
  /** Number of valid records. */
  length = 0;
  /** Maximum number of records. */
  readonly capacity: number;
  /** `clock_time`. */
  readonly clockTime: Uint32Array;
  /** Low 32 bits of `obj_id`. */
  readonly objIdLo: Uint32Array;
  /** High 32 bits of `obj_id`. */
  readonly objIdHi: Uint32Array;
  /** `obj_size` in bytes. */
  readonly objSize: Uint32Array;
  /** `next_access_vtime`: 1-based position of the next request for the object, -1 for none. */
  readonly nextAccessVtime: Float64Array;

  /** An empty batch of `capacity` records. */
  constructor(capacity: number) {
    this.capacity = capacity;
    this.clockTime = new Uint32Array(capacity);
    this.objIdLo = new Uint32Array(capacity);
    this.objIdHi = new Uint32Array(capacity);
    this.objSize = new Uint32Array(capacity);
    this.nextAccessVtime = new Float64Array(capacity);
  }

  /** Append a record; `objId` is an integer in [0, 2^53). Throws when full. */
  push(clockTime: number, objId: number, objSize: number, nextAccessVtime: number): void {
    const i = this.length;
    if (i >= this.capacity) {
      throw new RangeError(`OracleGeneralBatch.push: batch is full (${this.capacity} records)`);
    }
    this.clockTime[i] = clockTime;
    this.objIdLo[i] = objId % TWO32;
    this.objIdHi[i] = Math.floor(objId / TWO32);
    this.objSize[i] = objSize;
    this.nextAccessVtime[i] = nextAccessVtime;
    this.length = i + 1;
  }

  /** `obj_id` of record `i` as a number (exact below 2^53). */
  objId(i: number): number {
    return this.objIdHi[i]! * TWO32 + this.objIdLo[i]!;
  }
}

/** int64 from halves; -1 and INT64_MAX both mean "no next access". */
function nextVtime(lo: number, hiSigned: number): number {
  if (hiSigned === 0x7fffffff && lo === 0xffffffff) return -1;
  return hiSigned * TWO32 + lo;
}

/**
 * Which fields a reader decodes: every field, or only `obj_id` (faster, for replay).
 *
 * @example
 * ```ts
 * import {
 *   encodeOracleGeneral,
 *   OracleGeneralBatch,
 *   type OracleGeneralFields,
 *   readOracleGeneral,
 * } from "@mmsim/mmsim";
 * const b = new OracleGeneralBatch(2);
 * b.push(1, 40, 4096, -1);
 * b.push(2, 41, 8192, -1);
 * const fields: OracleGeneralFields = "objId";
 * const ids: number[] = [];
 * for await (const batch of readOracleGeneral(encodeOracleGeneral(b), 16, fields)) {
 *   for (let i = 0; i < batch.length; i++) ids.push(batch.objId(i));
 * }
 * if (ids.join() !== "40,41") throw new Error(ids.join());
 * ```
 */
export type OracleGeneralFields = "all" | "objId";

/**
 * Decode `n` whole records of `bytes` starting at byte `pos` into `out` at `out.length`.
 * Uses an aligned Uint32Array view on little-endian hosts, a DataView otherwise.
 */
function decodeRecords(
  bytes: Uint8Array,
  pos: number,
  n: number,
  out: OracleGeneralBatch,
  fields: OracleGeneralFields = "all",
): void {
  let j = out.length;
  const ct = out.clockTime, lo = out.objIdLo, hi = out.objIdHi, sz = out.objSize;
  const nv = out.nextAccessVtime;
  const off = bytes.byteOffset + pos;
  if (LITTLE_ENDIAN && (off & 3) === 0) {
    const w = new Uint32Array(bytes.buffer, off, n * 6);
    if (fields === "objId") {
      for (let k = 0, end = n * 6; k < end; k += 6, j++) {
        lo[j] = w[k + 1]!;
        hi[j] = w[k + 2]!;
      }
    } else {
      for (let k = 0, end = n * 6; k < end; k += 6, j++) {
        ct[j] = w[k]!;
        lo[j] = w[k + 1]!;
        hi[j] = w[k + 2]!;
        sz[j] = w[k + 3]!;
        nv[j] = nextVtime(w[k + 4]!, w[k + 5]! | 0);
      }
    }
  } else {
    const dv = new DataView(bytes.buffer, off, n * ORACLE_GENERAL_RECORD_BYTES);
    for (let i = 0, b = 0; i < n; i++, b += 24, j++) {
      lo[j] = dv.getUint32(b + 4, true);
      hi[j] = dv.getUint32(b + 8, true);
      if (fields === "objId") continue;
      ct[j] = dv.getUint32(b, true);
      sz[j] = dv.getUint32(b + 12, true);
      nv[j] = nextVtime(dv.getUint32(b + 16, true), dv.getInt32(b + 20, true));
    }
  }
  out.length = j;
}

/**
 * Decode a whole in-memory trace. Throws if its length is not a multiple of 24 bytes.
 *
 * @example
 * ```ts
 * const b = new OracleGeneralBatch(2);
 * b.push(1, 7, 4096, 2);
 * b.push(2, 7, 4096, -1);
 * const back = parseOracleGeneral(encodeOracleGeneral(b));
 * if (back.length !== 2 || back.objId(1) !== 7 || back.nextAccessVtime[0] !== 2) throw new Error();
 * ```
 */
export function parseOracleGeneral(bytes: Uint8Array): OracleGeneralBatch {
  if (bytes.length % ORACLE_GENERAL_RECORD_BYTES !== 0) {
    throw new Error(
      `parseOracleGeneral: trace length ${bytes.length} is not a multiple of 24 bytes`,
    );
  }
  const n = bytes.length / ORACLE_GENERAL_RECORD_BYTES;
  const out = new OracleGeneralBatch(n);
  decodeRecords(bytes, 0, n, out);
  return out;
}

/**
 * A trace source: a byte stream (e.g. `(await Deno.open(path)).readable`) or whole bytes.
 *
 * @example
 * ```ts
 * import {
 *   encodeOracleGeneral,
 *   OracleGeneralBatch,
 *   replayOracleGeneral,
 *   type TraceSource,
 * } from "@mmsim/mmsim";
 * const b = new OracleGeneralBatch(3);
 * for (const id of [7, 8, 7]) b.push(0, id, 4096, -1);
 * const bytes = encodeOracleGeneral(b);
 * const whole: TraceSource = bytes;
 * const stream: TraceSource = ReadableStream.from([bytes.subarray(0, 30), bytes.subarray(30)]);
 * const a = await replayOracleGeneral(whole, { capacityPages: 4 });
 * const s = await replayOracleGeneral(stream, { capacityPages: 4 });
 * if (a.hits !== 1 || s.hits !== 1 || s.requests !== 3) throw new Error(JSON.stringify([a, s]));
 * ```
 */
export type TraceSource = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Uint8Array;

async function* chunksOf(source: TraceSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  yield* source as AsyncIterable<Uint8Array>;
}

/**
 * Stream an oracleGeneral trace as batches of up to `batchRecords` records, handling records
 * split across chunks. The same batch object is yielded each time: read it before the next
 * iteration. With `fields: "objId"` only `objIdLo`/`objIdHi` are filled (the other arrays keep
 * stale values). Each chunk is decoded before the next is pulled, so a source may refill one
 * buffer. Throws on a trailing partial record.
 *
 * @example
 * ```ts
 * const b = new OracleGeneralBatch(3);
 * for (let i = 0; i < 3; i++) b.push(i, i, 4096, -1);
 * const bytes = encodeOracleGeneral(b);
 * // Split the bytes at awkward places: the reader reassembles records.
 * const stream = ReadableStream.from([bytes.subarray(0, 5), bytes.subarray(5, 50), bytes.subarray(50)]);
 * let n = 0;
 * for await (const batch of readOracleGeneral(stream, 2)) n += batch.length;
 * if (n !== 3) throw new Error();
 * ```
 */
export async function* readOracleGeneral(
  source: TraceSource,
  batchRecords = 65_536,
  fields: OracleGeneralFields = "all",
): AsyncGenerator<OracleGeneralBatch> {
  const out = new OracleGeneralBatch(batchRecords);
  const carry = new Uint8Array(ORACLE_GENERAL_RECORD_BYTES);
  let carryLen = 0;
  for await (const chunk of chunksOf(source)) {
    let pos = 0;
    if (carryLen > 0) {
      const take = Math.min(ORACLE_GENERAL_RECORD_BYTES - carryLen, chunk.length);
      carry.set(chunk.subarray(0, take), carryLen);
      carryLen += take;
      pos = take;
      if (carryLen < ORACLE_GENERAL_RECORD_BYTES) continue;
      decodeRecords(carry, 0, 1, out, fields);
      carryLen = 0;
      if (out.length === batchRecords) {
        yield out;
        out.length = 0;
      }
    }
    for (;;) {
      const whole = Math.floor((chunk.length - pos) / ORACLE_GENERAL_RECORD_BYTES);
      const n = Math.min(whole, batchRecords - out.length);
      if (n === 0) break;
      decodeRecords(chunk, pos, n, out, fields);
      pos += n * ORACLE_GENERAL_RECORD_BYTES;
      if (out.length === batchRecords) {
        yield out;
        out.length = 0;
      }
    }
    if (pos < chunk.length) {
      carry.set(chunk.subarray(pos), 0);
      carryLen = chunk.length - pos;
    }
  }
  if (carryLen > 0) {
    throw new Error(`readOracleGeneral: trace ends with a partial record of ${carryLen} bytes`);
  }
  if (out.length > 0) yield out;
}

/**
 * Encode records `[start, end)` of a batch as oracleGeneral bytes.
 *
 * @example
 * ```ts
 * const b = new OracleGeneralBatch(1);
 * b.push(1, 2, 3, -1);
 * const bytes = encodeOracleGeneral(b);
 * if (bytes.length !== 24 || bytes[4] !== 2 || bytes[23] !== 0xff) throw new Error();
 * ```
 */
export function encodeOracleGeneral(
  batch: OracleGeneralBatch,
  start = 0,
  end = batch.length,
): Uint8Array {
  const n = end - start;
  const bytes = new Uint8Array(n * ORACLE_GENERAL_RECORD_BYTES);
  const dv = new DataView(bytes.buffer);
  for (let i = 0, b = 0; i < n; i++, b += 24) {
    const r = start + i;
    dv.setUint32(b, batch.clockTime[r]!, true);
    dv.setUint32(b + 4, batch.objIdLo[r]!, true);
    dv.setUint32(b + 8, batch.objIdHi[r]!, true);
    dv.setUint32(b + 12, batch.objSize[r]!, true);
    const v = batch.nextAccessVtime[r]!;
    if (v < 0) {
      dv.setInt32(b + 16, -1, true);
      dv.setInt32(b + 20, -1, true);
    } else {
      dv.setUint32(b + 16, v % TWO32, true);
      dv.setUint32(b + 20, Math.floor(v / TWO32), true);
    }
  }
  return bytes;
}

/**
 * Fill `nextAccessVtime` of a whole trace held in one batch with a backward pass (what
 * libCacheSim's traceConv computes): for each request, the 1-based position of the next
 * request for the same object, or -1. Ids are compared exactly (both halves).
 *
 * @example
 * ```ts
 * const b = new OracleGeneralBatch(3);
 * for (const id of [5, 6, 5]) b.push(0, id, 4096, 0);
 * computeNextAccessVtime(b);
 * if (b.nextAccessVtime.join() !== "3,-1,-1") throw new Error();
 * ```
 */
export function computeNextAccessVtime(batch: OracleGeneralBatch): void {
  // Map id -> next position seen so far (going backwards). A Map keyed by a number is fine
  // here: entries are only set, never moved.
  const n = batch.length;
  const lo = batch.objIdLo, hi = batch.objIdHi, nv = batch.nextAccessVtime;
  let maxLo = 0, allLowHalf = true;
  for (let i = 0; i < n; i++) {
    if (hi[i] !== 0) {
      allLowHalf = false;
      break;
    }
    if (lo[i]! > maxLo) maxLo = lo[i]!;
  }
  if (allLowHalf && maxLo < 1 << 27) {
    const last = new Float64Array(maxLo + 1).fill(-1);
    for (let i = n - 1; i >= 0; i--) {
      const id = lo[i]!;
      const l = last[id]!;
      nv[i] = l < 0 ? -1 : l + 1;
      last[id] = i;
    }
    return;
  }
  const last = new Map<number, number>();
  for (let i = n - 1; i >= 0; i--) {
    const key = hi[i]! * TWO32 + lo[i]!; // exact below 2^53; larger ids may collide
    const l = last.get(key);
    nv[i] = l === undefined ? -1 : l + 1;
    last.set(key, i);
  }
}

/**
 * Write batches of oracleGeneral records to a byte sink (e.g. `(await Deno.create(p)).writable`).
 *
 * @example
 * ```ts
 * const chunks: Uint8Array[] = [];
 * const w = new OracleGeneralWriter(new WritableStream({ write: (c) => { chunks.push(c); } }));
 * const b = new OracleGeneralBatch(1);
 * b.push(0, 1, 4096, -1);
 * await w.writeBatch(b);
 * await w.close();
 * if (chunks[0]!.length !== 24) throw new Error();
 * ```
 */
export class OracleGeneralWriter {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Records written so far. */
  nrRecords = 0;

  /** Write to `sink`; `close()` closes it. */
  constructor(sink: WritableStream<Uint8Array>) {
    this.writer = sink.getWriter();
  }

  /** Encode and write records `[start, end)` of `batch`. */
  async writeBatch(batch: OracleGeneralBatch, start = 0, end = batch.length): Promise<void> {
    await this.writer.write(encodeOracleGeneral(batch, start, end));
    this.nrRecords += end - start;
  }

  /** Flush and close the sink. */
  async close(): Promise<void> {
    await this.writer.close();
  }
}
