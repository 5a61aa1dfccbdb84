/**
 * Shared fixtures of the filemap and truncate tests: a SimpleFs file of 64 filled pages with a
 * fixed read latency, a reader task that records what `filemapRead` returned and when, and the
 * trace kinds of the read path.
 *
 * @module
 */

import { type AddressSpace, Engine, filemapRead, Mm, SimpleFs, type Task } from "../../../mod.ts";

/** The read latency of {@link setup}'s filesystem by default, ns. */
export const LAT = 100_000;

/** A machine of 1024 frames with a SimpleFs file "f" of 64 pages, all in the backing store. */
export function setup(opts: { latency?: number; minOrder?: number; maxOrder?: number } = {}) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 1024 } });
  const fs = new SimpleFs(mm, { readLatency: { kind: "fixed", ns: opts.latency ?? LAT } });
  const file = fs.createFile({
    name: "f",
    sizePages: 64,
    fillPages: 64,
    minOrder: opts.minOrder,
    maxOrder: opts.maxOrder,
  });
  return { env, mm, fs, file };
}

/** The kinds a task emitted, restricted to `kinds`. */
export function timeline(env: Engine, task: Task, kinds: readonly string[]): string[] {
  const set = new Set(kinds);
  return env.trace!.kinds((e) => e.task === task.id && set.has(e.kind));
}

/** The trace kinds of the read path (filemap_read and readahead). */
export const READ_KINDS = [
  "page_cache_sync_ra",
  "page_cache_async_ra",
  "filemap_update_page",
  "folio_put_wait_locked",
  "filemap_read_folio",
  "aop_truncated_page",
  "filemap_create_folio",
  "mm_filemap_get_pages",
  "filemap_read",
] as const;

/** Spawn a task reading `count` pages from `index`; `out` gets the tags or errno and the time. */
export function reader(env: Engine, mm: Mm, file: AddressSpace, index: number, count = 1) {
  const out: { tags: number[] | null; errno: string | null; at: number } = {
    tags: null,
    errno: null,
    at: -1,
  };
  const task = env.spawn(`reader@${index}`, function* (e) {
    const r = yield* filemapRead(mm, file, index, count);
    if (r.ok) out.tags = r.value;
    else out.errno = r.errno;
    out.at = e.nowNs;
  });
  return { task, out };
}
