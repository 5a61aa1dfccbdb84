/**
 * Configuration schemas as the public API sees them: `parse` fills in the kernel's defaults and
 * throws an error naming the field; `safeParse` returns the issues instead. Every scenario and
 * model config in mmsim is one of these (built from a zod schema inside the library, so the
 * messages are zod's).
 *
 * @module
 */

/**
 * One problem found in a configuration: where and what.
 *
 * @example
 * ```ts
 * import { type ConfigIssue, PhysMemConfig } from "@mmsim/mmsim";
 * const r = PhysMemConfig.safeParse({ nrFrames: "many" });
 * if (r.success) throw new Error("a string frame count must be rejected");
 * const issue: ConfigIssue = r.error.issues[0]!;
 * if (issue.path[0] !== "nrFrames" || issue.message === "") throw new Error(JSON.stringify(issue));
 * ```
 */
export interface ConfigIssue {
  /** Path of the offending field, e.g. `["server", "threads"]`. */
  path: PropertyKey[];
  /** What is wrong with it. */
  message: string;
}

/**
 * Result of {@link ConfigSchema.safeParse}.
 *
 * @example
 * ```ts
 * import { PhysMemConfig, type SafeParseResult } from "@mmsim/mmsim";
 * const r: SafeParseResult<PhysMemConfig> = PhysMemConfig.safeParse({ nrFrames: 64 });
 * if (!r.success) throw new Error(r.error.message);
 * if (r.data.nrFrames !== 64 || r.data.pageSizeBytes !== 4096) throw new Error("defaults filled");
 * ```
 */
export type SafeParseResult<Out> =
  | { success: true; data: Out }
  | { success: false; error: { issues: ConfigIssue[]; message: string } };

/**
 * A configuration schema: input with optional fields in, complete config with kernel defaults
 * out.
 *
 * @example
 * ```ts
 * import { PhysMemConfig } from "@mmsim/mmsim";
 * const ok = PhysMemConfig.parse({ nrFrames: 512 });
 * if (ok.pageSizeBytes !== 4096) throw new Error("default 4 KiB");
 * const bad = PhysMemConfig.safeParse({ nrFrames: -1 });
 * if (bad.success || bad.error.issues[0]!.path[0] !== "nrFrames") throw new Error("names the field");
 * ```
 */
export interface ConfigSchema<Out, In = Partial<Out>> {
  /** Parse and fill defaults; throws an Error whose message names each bad field. */
  parse(input?: In): Out;
  /** Parse without throwing. */
  safeParse(input: unknown): SafeParseResult<Out>;
}
