/**
 * Private helpers to turn zod schemas into public {@link ConfigSchema}s and to nest them.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema, SafeParseResult } from "./config.ts";

const ZOD = Symbol("zod schema");

/** Compile-time check that two types are the same (use: `const _: Same<A, B> = true`). */
export type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2)
  ? true
  : false;

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => `${i.path.length ? i.path.map(String).join(".") : "(config)"}: ${i.message}`)
    .join("; ");
}

/**
 * Wrap a zod schema as a public ConfigSchema. `parse` throws `Error("Invalid <name>: field:
 * message; …")`.
 */
export function defineConfig<Out, In>(
  name: string,
  schema: z.ZodType<Out, In>,
): ConfigSchema<Out, In> {
  const cs = {
    parse(input?: In): Out {
      const r = schema.safeParse(input ?? {});
      if (!r.success) throw new Error(`Invalid ${name}: ${formatIssues(r.error.issues)}`);
      return r.data;
    },
    safeParse(input: unknown): SafeParseResult<Out> {
      const r = schema.safeParse(input ?? {});
      if (r.success) return { success: true, data: r.data };
      return {
        success: false,
        error: {
          issues: r.error.issues.map((i) => ({ path: [...i.path], message: i.message })),
          message: `Invalid ${name}: ${formatIssues(r.error.issues)}`,
        },
      };
    },
  };
  Object.defineProperty(cs, ZOD, { value: schema, enumerable: false });
  return cs;
}

/** The zod schema behind a ConfigSchema made by {@link defineConfig}, for nesting. */
export function zodOf<Out, In>(cs: ConfigSchema<Out, In>): z.ZodType<Out, In> {
  const s = (cs as unknown as Record<symbol, z.ZodType<Out, In>>)[ZOD];
  if (!s) throw new Error("zodOf: not a schema made by defineConfig");
  return s;
}

/**
 * A nested config field: optional in the input, parsed with its own defaults (`defaults`
 * overrides some of them for this use).
 */
export function nested<Out, In>(
  cs: ConfigSchema<Out, In>,
  defaults: Partial<In> = {},
): z.ZodType<Out, In | undefined> {
  return z.preprocess(
    (v) => ({ ...defaults, ...((v ?? {}) as object) }),
    zodOf(cs),
  ) as unknown as z.ZodType<Out, In | undefined>;
}
