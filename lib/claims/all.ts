/**
 * Every claim of every seed thread, in one registry.
 *
 * Each seed thread's claims live in their own file, `lib/claims/threadNNN.ts`, which exports
 * `claims: Claim[]` (ids as in CLAIMS.md: C0.x for thread 000, C1.x for 001, …). To add a
 * thread, import its array below and append it to `THREADS`; the registry rejects duplicate ids.
 *
 * Not a kernel model; no kernel source is followed here.
 *
 * @module
 */

import { type Claim, ClaimRegistry } from "./registry.ts";
import { claims as thread000 } from "./thread000.ts";
import { claims as thread002 } from "./thread002.ts";
import { claims as thread001 } from "./thread001.ts";
import { claims as thread003 } from "./thread003.ts";
import { claims as thread004 } from "./thread004.ts";

// One import per thread file.

/** The per-thread claim arrays, in thread order. */
const THREADS: readonly (readonly Claim[])[] = [
  thread000,
  thread001,
  thread002,
  thread003,
  thread004,
];

/**
 * A new registry holding every claim of every seed thread, in thread order.
 *
 * @example
 * ```ts
 * import { allClaims } from "@mmsim/mmsim";
 * const registry = allClaims();
 * if (registry.size !== registry.ids().length) throw new Error("registry");
 * ```
 */
export function allClaims(): ClaimRegistry {
  const registry = new ClaimRegistry();
  for (const claims of THREADS) registry.registerAll(claims);
  return registry;
}
