/**
 * mmsim: composable, deterministic simulation primitives for Linux memory management.
 *
 * Import this module (locally or by URL) to build scenarios from the engine (`lib/sim/`), the
 * kernel model (`lib/mm/`), filesystems (`lib/fs/`), device memory (`lib/dev/`), the claims of
 * the seed threads (`lib/claims/`) and the figures (`lib/plot/`).
 *
 * @example
 * ```ts
 * import { Engine } from "@mmsim/mmsim";
 * const engine = new Engine({ seed: 1 });
 * engine.spawn("hello", function* (env) {
 *   yield env.sleep(1_000);
 * });
 * const result = engine.run();
 * if (result.nowNs !== 1_000) throw new Error("time did not advance");
 * ```
 *
 * @module
 */

// --- engine (lib/sim) ---

// --- memory-management model (lib/mm) ---
export * from "./lib/mm/memory.ts";

// --- filesystems (lib/fs) and devices (lib/dev) ---

// --- workloads and traces (lib/workload) ---

// --- claims (lib/claims) ---
export * from "./lib/claims/registry.ts";
export * from "./lib/claims/report.ts";
export * from "./lib/claims/all.ts";

// --- figures (lib/plot) ---
export * from "./lib/plot/document.ts";
export * from "./lib/plot/display.ts";
export * from "./lib/plot/table.ts";
export * from "./lib/plot/memory_map.ts";
