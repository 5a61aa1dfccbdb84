/**
 * Turn the guest driver's result line into the outcome each experiment's claim is about, a
 * one-line summary of the evidence, and a caveat when the run could not test the claim.
 *
 * @module
 */

import type {
  ExperimentId,
  HungReadOutcome,
  SplitOutcome,
  WritebackHolder,
  WritebackOutcome,
} from "./types.ts";

/** Interpretation of one driver result. */
export interface Interpretation {
  /** The outcome, or undefined when the result is unusable. */
  outcome?: WritebackOutcome | HungReadOutcome | SplitOutcome;
  /** Evidence in one line. */
  summary: string;
  /** Caveat or error. */
  note?: string;
}

const num = (v: unknown): number => (typeof v === "number" ? v : NaN);

/** Folio sizes as text: runs of equal sizes folded ("512×1", "4,1,1,2,8,…"). */
export function formatFolioSizes(sizes: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < sizes.length;) {
    let j = i;
    while (j < sizes.length && sizes[j] === sizes[i]) j++;
    parts.push(j - i > 2 ? `${j - i}×${sizes[i]}` : sizes.slice(i, j).join(","));
    i = j;
  }
  return parts.join(",");
}

/**
 * `fuse-writeback`: the counter holding at least a quarter of the bytes written in the last
 * sample before the replies were released (falling back to the peaks).
 */
function writeback(r: Record<string, unknown>): Interpretation {
  const samples = (r.samples as number[][] | undefined) ?? [];
  const bytes = num(r.bytes);
  const last = samples[samples.length - 1];
  if (!last || !(bytes > 0)) return { summary: "no samples", note: "driver printed no samples" };
  const thresholdKb = bytes / 1024 / 4;
  const pick = (wb: number, tmp: number): WritebackHolder =>
    wb >= thresholdKb && tmp >= thresholdKb
      ? "both"
      : wb >= thresholdKb
      ? "Writeback"
      : tmp >= thresholdKb
      ? "WritebackTmp"
      : "neither";
  let holder = pick(last[2]!, last[3]!);
  const peak = (r.peakKb ?? {}) as Record<string, number>;
  if (holder === "neither") holder = pick(num(peak.Writeback), num(peak.WritebackTmp));
  const summary =
    `${bytes >> 20} MiB written, WRITE replies delayed ${num(r.writeDelayMs) / 1000} s: ` +
    `Writeback ${last[2]} kB, WritebackTmp ${last[3]} kB after ${(last[0]! / 1000).toFixed(1)} s ` +
    `(peaks ${peak.Writeback} / ${peak.WritebackTmp} kB; bdi max_ratio ${r.maxRatioBefore}→${r.maxRatioAfter})`;
  const note = r.maxRatioAfter !== "100"
    ? `FUSE bdi max_ratio could not be raised (${r.maxRatioAfter}); the writer may have been throttled`
    : undefined;
  return { outcome: { holder }, summary, ...(note ? { note } : {}) };
}

/** `hung-read-compaction`: moved or not, blocked or not, and whether compaction got there. */
function hungRead(r: Record<string, unknown>): Interpretation {
  const hung = num(r.hungFrames);
  if (!(hung > 0)) {
    return {
      summary: "no hung page-cache frames found",
      note: "readahead left no locked !uptodate frames",
    };
  }
  const trace = (r.trace ?? {}) as Record<string, unknown>;
  const blocked = r.compactionBlocked === true;
  const reached = blocked || num(trace.isolateRangesOverHungTaken) > 0;
  const where = typeof r.compactorWchan === "string" && r.compactorWchan
    ? ` in ${r.compactorWchan}`
    : "";
  const summary = `${hung} hung frames (kpageflags scan); ` +
    `${
      r.hungPageMoved
        ? `${r.framesGone} frames left, ${r.framesAppeared} appeared`
        : "same frames after compaction"
    }; ` +
    `compaction ${
      blocked
        ? `blocked${where}, returned ${r.compactorAfterReleaseMs} ms after release`
        : `returned in ${r.compactMs} ms`
    }`;
  const note = reached
    ? undefined
    : "compaction's migrate scanner never reached the hung frames, so 'not moved' says nothing";
  return {
    outcome: { hungPageMoved: r.hungPageMoved === true, compactionBlocked: blocked },
    summary,
    ...(note ? { note } : {}),
  };
}

/** `split-at-page`: folio sizes after the split (the THP must have been one folio before). */
function split(r: Record<string, unknown>): Interpretation {
  const before = (r.foliosBefore as number[] | undefined) ?? [];
  const after = (r.foliosAfter as number[] | undefined) ?? [];
  const summary =
    `write "${r.arg}" (${r.argFormat}) → ${r.writeRet}; folios ${formatFolioSizes(before)} → ` +
    `${formatFolioSizes(after)}${r.samePfns === true ? ", same frames" : ""}`;
  if (before.length !== 1 || before[0] !== 512) {
    return {
      summary,
      note: `tmpfs did not give one 2 MiB folio before the split (${formatFolioSizes(before)})`,
    };
  }
  if (num(r.writeRet) < 0) {
    return { summary, note: `split_huge_pages write failed, errno ${r.writeErrno}` };
  }
  return { outcome: { folioSizes: after }, summary };
}

/** Interprets a driver result line for an experiment. */
export function interpret(
  experiment: ExperimentId,
  result: Record<string, unknown>,
): Interpretation {
  switch (experiment) {
    case "fuse-writeback":
      return writeback(result);
    case "hung-read-compaction":
      return hungRead(result);
    case "split-at-page":
      return split(result);
  }
}

/**
 * Whether the hung-read observation shows compaction reached the hung pages: it blocked, or
 * the trace shows an isolate_migratepages range over a hung frame that isolated something,
 * while the READs hung. Without this, "no hung page moved" is vacuous.
 */
export function compactionReachedHungPages(details: Record<string, unknown> | undefined): boolean {
  if (!details) return false;
  const trace = (details.trace ?? {}) as Record<string, unknown>;
  return details.compactionBlocked === true || num(trace.isolateRangesOverHungTaken) > 0;
}

/**
 * Whether compaction could have blocked on the hung pages: it did, or its migrate scanner ended
 * above the highest hung frame (mm_compaction_end of that zone). When the scanners met at or
 * below the hung frames, migration gave up for lack of free pages (-ENOMEM) and whether it
 * would have slept on the folio lock was not tested.
 */
export function compactionPassedHungPages(details: Record<string, unknown> | undefined): boolean {
  if (!details) return false;
  if (details.compactionBlocked === true) return true;
  const pfns = (details.pfnsBefore as number[] | undefined) ?? [];
  if (pfns.length === 0) return false;
  const top = Math.max(...pfns);
  const ends = (((details.trace ?? {}) as Record<string, unknown>).ends as string[] | undefined) ??
    [];
  for (const e of ends) {
    const hex = (k: string) => parseInt(new RegExp(`${k}=0x([0-9a-f]+)`).exec(e)?.[1] ?? "", 16);
    if (hex("zone_start") <= top && top < hex("zone_end")) return hex("migrate_pfn") > top;
  }
  return false;
}
