/**
 * The claims registry: each claim from a seed thread (C0.1 … C4.5 in CLAIMS.md) as a quoted
 * statement, who made it, its assumptions and kernel era, what it predicts, and a `run()` that
 * sets up a simulation and computes the verdict from what it measures.
 *
 * A claim's verdict is computed, never typed in: `run()` returns the measured `figures`, a
 * `verdict` derived from them and `agrees`, whether that verdict matches `expected`. A claim
 * that disagrees is a finding, not an error. Runs are deterministic functions of the seed; no
 * wall clock is read here (tools measure durations themselves).
 *
 * Not a kernel model; no kernel source is followed here.
 *
 * @module
 */

import { z } from "npm:zod@^4";

// Verdict is the engine's (lib/sim/explore.ts): one definition for explorations and claims.
import type { Verdict } from "../sim/explore.ts";
export type { Verdict };

/**
 * What a claim's `run()` measured and concluded.
 *
 * @example
 * ```ts
 * import type { ClaimOutcome } from "@mmsim/mmsim";
 * const blocked = 3;
 * const outcome: ClaimOutcome = {
 *   verdict: blocked > 0 ? "Sometimes" : "Never",
 *   figures: { blocked },
 *   agrees: blocked > 0,
 * };
 * if (!outcome.agrees) throw new Error("expected agreement");
 * ```
 */
export interface ClaimOutcome {
  /** Computed verdict: a Verdict for reachability claims, or a short measured statement. */
  verdict: string;
  /** The measured numbers the verdict rests on. */
  figures: Record<string, number | string | boolean>;
  /** Whether the computed verdict matches what the claim predicts (computed, never typed in). */
  agrees: boolean;
  /** One-paragraph explanation (optional), e.g. the counterexample's replay call. */
  detail?: string;
}

/**
 * Options passed to a claim's `run()`.
 *
 * @example
 * ```ts
 * import type { ClaimRunOptions } from "@mmsim/mmsim";
 * const opts: ClaimRunOptions = { seed: 1, quick: true };
 * if (opts.seed !== 1) throw new Error("seed");
 * ```
 */
export interface ClaimRunOptions {
  /** The one seed every random choice of the run flows from. */
  seed: number;
  /** Smaller sweeps and bounds, for tests and a first look; the verdict must not change. */
  quick?: boolean;
  /** Called with a short message as a long run makes progress. */
  progress?: (msg: string) => void;
}

/**
 * A claim from a seed thread, with the scenario that tests it.
 *
 * @example
 * ```ts
 * import type { Claim } from "@mmsim/mmsim";
 * const claim: Claim = {
 *   id: "C9.1",
 *   thread: "009",
 *   by: "Example Author",
 *   statement: "Two plus two is four.",
 *   assumptions: ["integer arithmetic"],
 *   era: "any",
 *   expected: "4",
 *   run: () => {
 *     const sum = 2 + 2;
 *     return { verdict: String(sum), figures: { sum }, agrees: sum === 4 };
 *   },
 * };
 * if (claim.id !== "C9.1") throw new Error("id");
 * ```
 */
export interface Claim {
  /** Stable id as in CLAIMS.md, e.g. `"C1.3"`. */
  id: string;
  /** Seed thread number, three digits, e.g. `"001"`. */
  thread: string;
  /** Who made the claim. */
  by: string;
  /** The claim, quoted or condensed. */
  statement: string;
  /** What the scenario assumes (configuration, era-dependent behaviour, simplifications). */
  assumptions: string[];
  /** Kernel era the claim is about, e.g. `"2013 (v3.11)"`. */
  era: string;
  /** What the claim predicts, e.g. `"Sometimes"` or `"≥ 2 and growing"`. */
  expected: string;
  /** Run the scenario and compute the verdict. */
  run(opts: ClaimRunOptions): ClaimOutcome | Promise<ClaimOutcome>;
}

/**
 * A claim's metadata (every field of {@link Claim} but `run`) together with the outcome of one
 * run and the seed it ran with.
 *
 * @example
 * ```ts
 * import { ClaimRegistry, runClaims, type ClaimResult } from "@mmsim/mmsim";
 * const registry = new ClaimRegistry().register({
 *   id: "C9.1", thread: "009", by: "Example", statement: "s", assumptions: [], era: "any",
 *   expected: "Never", run: () => ({ verdict: "Never", figures: { hits: 0 }, agrees: true }),
 * });
 * const [result]: ClaimResult[] = await runClaims(registry, { seed: 7 });
 * if (result?.seed !== 7 || result.verdict !== "Never") throw new Error("result");
 * ```
 */
export interface ClaimResult extends ClaimOutcome, Omit<Claim, "run"> {
  /** Seed of the run. */
  seed: number;
  /** Whether the run used the quick settings. */
  quick: boolean;
}

const figureValue = z.union([z.number(), z.string(), z.boolean()]);

/** zod schema of a `Claim` (the metadata; `run` must be a function), used by `register()`. */
const ClaimSchema = z.object({
  id: z.string().regex(/^C\d+\.\d+[a-z]?$/, "claim ids look like C1.3 (as in CLAIMS.md)"),
  thread: z.string().regex(/^\d{3}$/, "threads are three digits, e.g. 001"),
  by: z.string().min(1),
  statement: z.string().min(1),
  assumptions: z.array(z.string()),
  era: z.string().min(1),
  expected: z.string().min(1),
  run: z.custom<Claim["run"]>((v) => typeof v === "function", "run must be a function"),
});

/** zod schema of a `ClaimOutcome`, checked on every result of `runClaim()`. */
const ClaimOutcomeSchema = z.object({
  verdict: z.string().min(1),
  figures: z.record(z.string(), figureValue),
  agrees: z.boolean(),
  detail: z.string().optional(),
});

/** "field: message; field: message" from a zod error, naming each offending field. */
function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}

/**
 * The set of registered claims, in registration order. Rejects duplicate ids and claims whose
 * metadata do not validate (the error names the field).
 *
 * @example
 * ```ts
 * import { ClaimRegistry, type Claim } from "@mmsim/mmsim";
 * const claim: Claim = {
 *   id: "C9.1", thread: "009", by: "Example", statement: "s", assumptions: [], era: "any",
 *   expected: "Never", run: () => ({ verdict: "Never", figures: {}, agrees: true }),
 * };
 * const registry = new ClaimRegistry().register(claim);
 * let rejected = false;
 * try {
 *   registry.register(claim);
 * } catch {
 *   rejected = true;
 * }
 * if (!rejected || registry.size !== 1) throw new Error("duplicate id accepted");
 * ```
 */
export class ClaimRegistry {
  readonly #claims = new Map<string, Claim>();

  /** Register a claim. Throws on a duplicate id or invalid metadata. Returns `this`. */
  register(claim: Claim): this {
    const parsed = ClaimSchema.safeParse(claim);
    if (!parsed.success) {
      const id = typeof claim?.id === "string" ? claim.id : "(no id)";
      throw new Error(`Cannot register claim ${id}: ${describeIssues(parsed.error)}`);
    }
    const existing = this.#claims.get(claim.id);
    if (existing !== undefined) {
      throw new Error(
        `Cannot register claim ${claim.id} (thread ${claim.thread}): id already registered ` +
          `by thread ${existing.thread}`,
      );
    }
    this.#claims.set(claim.id, claim);
    return this;
  }

  /** Register several claims in order (see `register`). */
  registerAll(claims: Iterable<Claim>): this {
    for (const c of claims) this.register(c);
    return this;
  }

  /** The claim with this id, or undefined. */
  get(id: string): Claim | undefined {
    return this.#claims.get(id);
  }

  /** Whether a claim with this id is registered. */
  has(id: string): boolean {
    return this.#claims.has(id);
  }

  /** All claims in registration order, optionally only one thread's. */
  list(thread?: string): Claim[] {
    const all = [...this.#claims.values()];
    return thread === undefined ? all : all.filter((c) => c.thread === thread);
  }

  /** All registered ids, in registration order. */
  ids(): string[] {
    return [...this.#claims.keys()];
  }

  /** Number of registered claims. */
  get size(): number {
    return this.#claims.size;
  }
}

/**
 * Run one claim with a seed and return its result. Throws if `run()` throws or returns an
 * outcome that does not validate (figures must be numbers, strings or booleans); a claim that disagrees is returned
 * normally with `agrees: false`.
 *
 * @example
 * ```ts
 * import { runClaim, type Claim } from "@mmsim/mmsim";
 * const claim: Claim = {
 *   id: "C9.2", thread: "009", by: "Example", statement: "seeds are passed through",
 *   assumptions: [], era: "any", expected: "seed 5",
 *   run: ({ seed }) => ({ verdict: `seed ${seed}`, figures: { seed }, agrees: seed === 5 }),
 * };
 * const result = await runClaim(claim, { seed: 5 });
 * if (!result.agrees || result.figures.seed !== 5) throw new Error("seed not passed");
 * ```
 */
export async function runClaim(claim: Claim, opts: ClaimRunOptions): Promise<ClaimResult> {
  const outcome = await claim.run(opts);
  const parsed = ClaimOutcomeSchema.safeParse(outcome);
  if (!parsed.success) {
    throw new Error(
      `Claim ${claim.id} returned an invalid outcome: ${describeIssues(parsed.error)}`,
    );
  }
  const o = parsed.data;
  const result: ClaimResult = {
    id: claim.id,
    thread: claim.thread,
    by: claim.by,
    statement: claim.statement,
    assumptions: [...claim.assumptions],
    era: claim.era,
    expected: claim.expected,
    verdict: o.verdict,
    figures: o.figures,
    agrees: o.agrees,
    seed: opts.seed,
    quick: opts.quick ?? false,
  };
  if (o.detail !== undefined) result.detail = o.detail;
  return result;
}

/**
 * Options of `runClaims()`.
 *
 * @example
 * ```ts
 * import type { RunClaimsOptions } from "@mmsim/mmsim";
 * const opts: RunClaimsOptions = { seed: 1, ids: ["C1.3"], quick: true };
 * if (opts.ids?.length !== 1) throw new Error("ids");
 * ```
 */
export interface RunClaimsOptions extends ClaimRunOptions {
  /** Run only these claims, in this order (default: every registered claim). */
  ids?: readonly string[];
}

/**
 * Run claims of a registry one after the other with the same seed. Unknown ids throw before
 * anything runs. `progress` receives a line before each claim (and whatever the claim reports).
 *
 * @example
 * ```ts
 * import { ClaimRegistry, runClaims } from "@mmsim/mmsim";
 * const registry = new ClaimRegistry();
 * for (const id of ["C9.1", "C9.2"]) {
 *   registry.register({
 *     id, thread: "009", by: "Example", statement: "s", assumptions: [], era: "any",
 *     expected: "Always", run: () => ({ verdict: "Always", figures: {}, agrees: true }),
 *   });
 * }
 * const lines: string[] = [];
 * const results = await runClaims(registry, { seed: 1, ids: ["C9.2"], progress: (m) => lines.push(m) });
 * if (results.length !== 1 || results[0]?.id !== "C9.2" || lines.length !== 1) throw new Error("ids");
 * ```
 */
export async function runClaims(
  registry: ClaimRegistry,
  opts: RunClaimsOptions,
): Promise<ClaimResult[]> {
  const ids = opts.ids ?? registry.ids();
  const unknown = ids.filter((id) => !registry.has(id));
  if (unknown.length > 0) {
    const known = registry.ids();
    throw new Error(
      `Cannot run claims ${unknown.join(", ")}: not registered (registered: ` +
        `${known.length > 0 ? known.join(", ") : "none"})`,
    );
  }
  const results: ClaimResult[] = [];
  for (const [i, id] of ids.entries()) {
    const claim = registry.get(id)!;
    opts.progress?.(`[${i + 1}/${ids.length}] ${claim.id} (thread ${claim.thread}, ${claim.by})`);
    const runOpts: ClaimRunOptions = { seed: opts.seed, quick: opts.quick ?? false };
    if (opts.progress !== undefined) runOpts.progress = opts.progress;
    results.push(await runClaim(claim, runOpts));
  }
  return results;
}
