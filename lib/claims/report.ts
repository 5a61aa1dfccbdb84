/**
 * Reports of claim results: a plain-text table for terminals, a notebook table, and the JSON
 * form `deno task reproduce --json` prints (one object per claim).
 *
 * Not a kernel model; no kernel source is followed here.
 *
 * @module
 */

import { formatCell, type Table, table } from "../plot/table.ts";
import type { ClaimResult } from "./registry.ts";

/**
 * What the `agrees` column says for a claim that disagrees: a finding, not a failure.
 *
 * @example
 * ```ts
 * import { DISAGREES } from "@mmsim/mmsim";
 * if (DISAGREES !== "disagrees (finding)") throw new Error(DISAGREES);
 * ```
 */
export const DISAGREES = "disagrees (finding)";

/**
 * The JSON form of a claim result: what `deno task reproduce --json` prints per claim.
 *
 * @example
 * ```ts
 * import type { ClaimJson } from "@mmsim/mmsim";
 * const j: ClaimJson = {
 *   id: "C9.1", thread: "009", by: "Example", statement: "s", era: "any", verdict: "Never",
 *   expected: "Never", figures: { hits: 0 }, seed: 1, agrees: true, quick: false,
 * };
 * if (j.figures.hits !== 0) throw new Error("figures");
 * ```
 */
export interface ClaimJson {
  /** Claim id. */
  id: string;
  /** Seed thread. */
  thread: string;
  /** Who made the claim. */
  by: string;
  /** The claim. */
  statement: string;
  /** Kernel era. */
  era: string;
  /** Computed verdict. */
  verdict: string;
  /** What the claim predicts. */
  expected: string;
  /** Measured numbers. */
  figures: Record<string, number | string | boolean>;
  /** Seed of the run. */
  seed: number;
  /** Whether the verdict matches the prediction. */
  agrees: boolean;
  /** Whether the quick settings were used. */
  quick: boolean;
  /** Explanation, e.g. a counterexample's replay call (present only if the claim gave one). */
  detail?: string;
}

/**
 * The JSON form of one result (fields in a fixed order).
 *
 * @example
 * ```ts
 * import { ClaimRegistry, runClaims, claimToJson } from "@mmsim/mmsim";
 * const registry = new ClaimRegistry().register({
 *   id: "C9.1", thread: "009", by: "Example", statement: "s", assumptions: ["a"], era: "any",
 *   expected: "Never", run: () => ({ verdict: "Never", figures: { hits: 0 }, agrees: true }),
 * });
 * const [result] = await runClaims(registry, { seed: 3 });
 * const keys = Object.keys(claimToJson(result!)).join(",");
 * if (keys !== "id,thread,by,statement,era,verdict,expected,figures,seed,agrees,quick") {
 *   throw new Error(keys);
 * }
 * ```
 */
export function claimToJson(result: ClaimResult): ClaimJson {
  const j: ClaimJson = {
    id: result.id,
    thread: result.thread,
    by: result.by,
    statement: result.statement,
    era: result.era,
    verdict: result.verdict,
    expected: result.expected,
    figures: { ...result.figures },
    seed: result.seed,
    agrees: result.agrees,
    quick: result.quick,
  };
  if (result.detail !== undefined) j.detail = result.detail;
  return j;
}

/**
 * `key=value` pairs of a result's figures, joined with ", " and cut to `maxChars` with "…".
 *
 * @example
 * ```ts
 * import { keyFigures } from "@mmsim/mmsim";
 * if (keyFigures({ a: 1, b: 0.125, c: true }) !== "a=1, b=0.125, c=true") throw new Error("kf");
 * if (keyFigures({ long: "x".repeat(50) }, 10) !== "long=xxxx…") throw new Error("cut");
 * ```
 */
export function keyFigures(
  figures: Readonly<Record<string, number | string | boolean>>,
  maxChars = 60,
): string {
  const text = Object.entries(figures).map(([k, v]) => `${k}=${formatCell(v)}`).join(", ");
  return text.length <= maxChars ? text : text.slice(0, Math.max(0, maxChars - 1)) + "…";
}

/**
 * The results as a `Table` (id, thread, by, verdict, expected, agrees, key figures): its
 * `text` is what `deno task reproduce` prints; in a notebook it displays as HTML.
 *
 * @example
 * ```ts
 * import { ClaimRegistry, runClaims, claimTable } from "@mmsim/mmsim";
 * const registry = new ClaimRegistry().register({
 *   id: "C9.1", thread: "009", by: "Example", statement: "s", assumptions: [], era: "any",
 *   expected: "Always", run: () => ({ verdict: "Sometimes", figures: { runs: 8 }, agrees: false }),
 * });
 * const text = claimTable(await runClaims(registry, { seed: 1 })).text;
 * if (!text.includes("disagrees (finding)") || !text.includes("runs=8")) throw new Error(text);
 * ```
 */
export function claimTable(results: readonly ClaimResult[]): Table {
  return table(
    results.map((r) => ({
      id: r.id,
      thread: r.thread,
      by: r.by,
      verdict: r.verdict,
      expected: r.expected,
      agrees: r.agrees ? "agrees" : DISAGREES,
      "key figures": keyFigures(r.figures),
    })),
    { columns: ["id", "thread", "by", "verdict", "expected", "agrees", "key figures"] },
  );
}

/**
 * Counts of results that agree and disagree, and a one-line summary.
 *
 * @example
 * ```ts
 * import { summarizeClaims } from "@mmsim/mmsim";
 * const s = summarizeClaims([]);
 * if (s.line !== "0 claims: 0 agree, 0 disagree") throw new Error(s.line);
 * ```
 */
export function summarizeClaims(
  results: readonly ClaimResult[],
): { agree: number; disagree: number; line: string } {
  const agree = results.filter((r) => r.agrees).length;
  const disagree = results.length - agree;
  const noun = results.length === 1 ? "claim" : "claims";
  const findings = disagree > 0 ? ` (${disagree === 1 ? "a finding" : "findings"}, see table)` : "";
  return {
    agree,
    disagree,
    line: `${results.length} ${noun}: ${agree} agree, ${disagree} disagree${findings}`,
  };
}
