/**
 * The comparison layer: real observations against the model's predictions, one row per
 * experiment and kernel, written as a Markdown table to `out/crosscheck.md`.
 *
 * Only what each claim is about is compared: which counter holds the pages (`holder`), whether
 * any hung page moved (`hungPageMoved`, plus `compactionBlocked` when predicted and the real
 * compaction's migrate scanner got past the hung pages or blocked on them), and the folio sizes
 * (`folioSizes`); never byte counts.
 *
 * @module
 */

import { dirname } from "node:path";
import { formatFolioSizes } from "./observe.ts";
import type { Prediction, PredictionMap } from "./predictions.ts";
import { compactionPassedHungPages, compactionReachedHungPages } from "./observe.ts";
import type {
  ExperimentId,
  HungReadOutcome,
  Observation,
  ObservationsFile,
  SeriesId,
  SplitOutcome,
  WritebackOutcome,
} from "./types.ts";
import { EXPERIMENTS } from "./types.ts";

/**
 * Verdict of a row: "yes"/"no" when both sides exist, "pending" without a model prediction,
 * "inconclusive" when the real run could not test the claim, "no observation" when the kernel
 * was unavailable or the run failed.
 */
export type Agreement = "yes" | "no" | "pending" | "inconclusive" | "no observation";

/** One row of the comparison table. */
export interface ComparisonRow {
  /** Experiment. */
  experiment: ExperimentId;
  /** Series. */
  series: SeriesId;
  /** Kernel release booted ("" when unavailable). */
  kernel: string;
  /** The model's prediction as text. */
  prediction: string;
  /** The real observation as text. */
  observation: string;
  /** Verdict. */
  agree: Agreement;
  /** Why, or the evidence. */
  note: string;
}

/** The claim part of an outcome, as text. */
export function describeOutcome(experiment: ExperimentId, outcome: unknown): string {
  switch (experiment) {
    case "fuse-writeback":
      return `pages held in ${(outcome as WritebackOutcome).holder}`;
    case "hung-read-compaction": {
      const o = outcome as HungReadOutcome;
      const blocked = o.compactionBlocked === undefined
        ? ""
        : o.compactionBlocked
        ? "; compaction blocks"
        : "; compaction does not block";
      return `${o.hungPageMoved ? "a hung page moved" : "no hung page moved"}${blocked}`;
    }
    case "split-at-page":
      return `folios ${formatFolioSizes((outcome as SplitOutcome).folioSizes)}`;
  }
}

function sameSizes(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Compares the claim fields of a prediction and an observation. */
function claimAgrees(
  experiment: ExperimentId,
  predicted: unknown,
  observed: Observation,
): { agree: boolean; why?: string } {
  switch (experiment) {
    case "fuse-writeback": {
      const p = predicted as WritebackOutcome;
      const o = observed.outcome as WritebackOutcome;
      return { agree: p.holder === o.holder };
    }
    case "hung-read-compaction": {
      const p = predicted as HungReadOutcome;
      const o = observed.outcome as HungReadOutcome;
      if (p.hungPageMoved !== o.hungPageMoved) {
        return { agree: false, why: "hungPageMoved differs" };
      }
      if (p.compactionBlocked !== undefined && compactionPassedHungPages(observed.details)) {
        if (p.compactionBlocked !== o.compactionBlocked) {
          return { agree: false, why: "compactionBlocked differs" };
        }
      }
      return { agree: true };
    }
    case "split-at-page": {
      const p = predicted as SplitOutcome;
      const o = observed.outcome as SplitOutcome;
      return { agree: sameSizes(p.folioSizes, o.folioSizes) };
    }
  }
}

/** The comparison rows for observations and predictions (pure; see {@link compare}). */
export function compareRows(obs: ObservationsFile, predictions: PredictionMap): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  for (const k of obs.kernels) {
    for (const experiment of EXPERIMENTS) {
      const pred =
        (predictions[experiment] as Partial<Record<SeriesId, Prediction<unknown>>> | undefined)
          ?.[k.series];
      const predText = !pred
        ? "pending"
        : pred.status === "pending"
        ? "pending"
        : describeOutcome(experiment, pred.outcome);
      if (k.status !== "ok") {
        rows.push({
          experiment,
          series: k.series,
          kernel: "",
          prediction: predText,
          observation: "kernel unavailable",
          agree: "no observation",
          note: k.reason,
        });
        continue;
      }
      const o = obs.observations.find((x) => x.experiment === experiment && x.series === k.series);
      if (!o || o.status !== "ok" || !o.outcome) {
        rows.push({
          experiment,
          series: k.series,
          kernel: k.release,
          prediction: predText,
          observation: "no result",
          agree: "no observation",
          note: o?.note ?? "not run",
        });
        continue;
      }
      const observation = describeOutcome(experiment, o.outcome);
      const base = {
        experiment,
        series: k.series,
        kernel: o.release,
        prediction: predText,
        observation,
      };
      const evidence = [o.note, o.summary].filter(Boolean).join(". ");
      if (
        experiment === "hung-read-compaction" && !compactionReachedHungPages(o.details)
      ) {
        rows.push({ ...base, agree: "inconclusive", note: evidence });
      } else if (!pred || pred.status === "pending") {
        rows.push({ ...base, agree: "pending", note: evidence });
      } else {
        const { agree, why } = claimAgrees(experiment, pred.outcome, o);
        rows.push({
          ...base,
          agree: agree ? "yes" : "no",
          note: [why, `model: ${pred.source}`, evidence].filter(Boolean).join(". "),
        });
      }
    }
  }
  return rows;
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The Markdown report: the table, then the kernels and timings. */
export function renderMarkdown(obs: ObservationsFile, rows: readonly ComparisonRow[]): string {
  const lines = [
    "# Cross-check: mmsim against real kernels",
    "",
    "Generated by `deno task crosscheck` (crosscheck/run.ts); observations in " +
    "`out/crosscheck/observations.json`. Only what each claim is about is compared.",
    "",
    "| Experiment | Kernel | Model prediction | Real observation | Agree | Note |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) =>
      `| ${r.experiment} | ${r.series}${r.kernel ? ` (${r.kernel})` : ""} | ${
        cell(r.prediction)
      } | ` +
      `${cell(r.observation)} | ${r.agree} | ${cell(r.note)} |`
    ),
    "",
    "## Kernels",
    "",
    ...obs.kernels.map((k) =>
      k.status === "ok"
        ? `- ${k.series}: ${k.packages.join(" + ")} ${k.version} (release ${k.release}, ` +
          `FUSE ${
            k.fuse === "m"
              ? `module: ${k.modules.join(", ")}`
              : k.fuse === "y"
              ? "built in"
              : "unknown"
          })`
        : `- ${k.series}: unavailable — ${k.reason}`
    ),
    "",
    `QEMU: ${obs.qemu}, \`${obs.qemuArgs.join(" ")}\``,
    "",
    "## Timings (s)",
    "",
    `install ${obs.timings.install}, fetch ${obs.timings.fetch}, build ${obs.timings.build}, ` +
    `boot ${obs.timings.boot}, total ${obs.timings.total}`,
    "",
  ];
  return lines.join("\n");
}

/**
 * Compares observations with predictions, writes the Markdown table to `outPath` (default
 * `out/crosscheck.md` under the current directory) and returns the rows.
 */
export async function compare(
  obs: ObservationsFile,
  predictions: PredictionMap,
  outPath = "out/crosscheck.md",
): Promise<ComparisonRow[]> {
  const rows = compareRows(obs, predictions);
  await Deno.mkdir(dirname(outPath), { recursive: true });
  await Deno.writeTextFile(outPath, renderMarkdown(obs, rows));
  return rows;
}

/** The rows as a plain-text table for the terminal. */
export function formatRows(rows: readonly ComparisonRow[]): string {
  const head = ["experiment", "kernel", "prediction", "observation", "agree"];
  const body = rows.map((r) => [
    r.experiment,
    `${r.series}${r.kernel ? ` (${r.kernel})` : ""}`,
    r.prediction,
    r.observation,
    r.agree,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [fmt(head), fmt(widths.map((w) => "-".repeat(w))), ...body.map(fmt)].join("\n");
}
