/**
 * `deno task reproduce`: the main job. Runs every registered claim (or one, `--claim ID`) with a
 * seed, prints the results table (or JSON with `--json`) on stdout, executes the notebooks into
 * `out/notebooks/*.html` when Jupyter is installed (saying how to install it when it is not),
 * and ends with a short summary of what it wrote. Progress goes to stderr, one line per claim
 * and per notebook.
 *
 * A claim that disagrees with its prediction is a finding, not a failure: it is marked
 * "disagrees (finding)" and the exit code stays 0. The exit code is 1 only on errors: a claim
 * that throws, a notebook that fails, bad arguments.
 *
 * @module
 */

import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import {
  allClaims,
  type ClaimResult,
  claimTable,
  claimToJson,
  runClaim,
  summarizeClaims,
} from "../mod.ts";
import { INSTALL_HINT, ROOT } from "./_jupyter.ts";
import { reportNotebookProblems, runNotebooks } from "./notebooks.ts";

const USAGE = `usage: deno task reproduce [options]

Run every registered claim, print the results, execute the notebooks into out/notebooks/.

options:
  --claim ID       run one claim (e.g. C1.3); repeatable; skips the notebooks
  --seed N         seed for every claim (default 1)
  --json           print results as JSON on stdout (one object per claim)
  --quick          smaller sweeps and bounds (same verdicts, less time)
  --no-notebooks   do not execute the notebooks
  -h, --help       show this help`;

function fail(message: string): never {
  console.error(`reproduce: ${message}\n\n${USAGE}`);
  Deno.exit(2);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: {
        claim: { type: "string", multiple: true },
        seed: { type: "string", default: "1" },
        json: { type: "boolean", default: false },
        quick: { type: "boolean", default: false },
        "no-notebooks": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    fail((e as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!/^\d+$/.test(values.seed) || !Number.isSafeInteger(Number(values.seed))) {
    fail(`--seed must be a non-negative integer, got ${JSON.stringify(values.seed)}`);
  }
  const seed = Number(values.seed);
  const quick = values.quick;
  const started = performance.now();

  // Claims.
  const registry = allClaims();
  const ids = values.claim ?? registry.ids();
  const unknown = ids.filter((id) => !registry.has(id));
  if (unknown.length > 0) {
    const known = registry.ids();
    fail(
      `no claim ${unknown.join(", ")} (registered: ${
        known.length > 0 ? known.join(", ") : "none yet"
      })`,
    );
  }
  const results: ClaimResult[] = [];
  const errors: string[] = [];
  for (const [i, id] of ids.entries()) {
    const claim = registry.get(id)!;
    const label = `claim ${i + 1}/${ids.length} ${claim.id} (thread ${claim.thread}, ${claim.by})`;
    const t0 = performance.now();
    try {
      const r = await runClaim(claim, {
        seed,
        quick,
        progress: (msg) => console.error(`  ${claim.id}: ${msg}`),
      });
      results.push(r);
      const mark = r.agrees ? "agrees" : "disagrees (finding)";
      console.error(`${label}: ${r.verdict}, ${mark} (${seconds(performance.now() - t0)})`);
    } catch (e) {
      const err = e as Error;
      errors.push(`${claim.id}: ${err.message}`);
      console.error(`${label}: ERROR (${seconds(performance.now() - t0)})\n${err.stack ?? err}`);
    }
  }

  // Results on stdout; copies in out/.
  const outDir = join(ROOT, "out");
  await Deno.mkdir(outDir, { recursive: true });
  const json = JSON.stringify(results.map(claimToJson), null, 2);
  const text = results.length > 0
    ? claimTable(results).text
    : registry.size === 0
    ? "No claims are registered yet (lib/claims/all.ts lists the thread files)."
    : "No claim ran.";
  console.log(values.json ? json : text);
  const written: string[] = [];
  const jsonPath = join(outDir, "claims.json");
  const textPath = join(outDir, "claims.txt");
  await Deno.writeTextFile(jsonPath, json + "\n");
  await Deno.writeTextFile(textPath, text + "\n");
  written.push(jsonPath, textPath);

  // Notebooks.
  let notebookLine: string;
  let notebookFailures = 0;
  if (values["no-notebooks"]) {
    notebookLine = "notebooks: skipped (--no-notebooks)";
  } else if (values.claim !== undefined) {
    notebookLine = "notebooks: skipped (--claim given; `deno task notebooks` runs them)";
  } else {
    const nb = await runNotebooks({ progress: (m) => console.error(m) });
    if (nb.missingJupyter) {
      console.error(`\n${INSTALL_HINT}\nThen run \`deno task reproduce\` again.`);
      notebookLine = "notebooks: not executed (Jupyter is not installed, see above)";
    } else {
      reportNotebookProblems(nb.runs);
      notebookFailures = nb.runs.filter((r) => r.problems.length > 0).length;
      for (const r of nb.runs) if (r.problems.length === 0) written.push(r.html);
      notebookLine = `notebooks: ${nb.runs.length - notebookFailures} of ${nb.runs.length} ` +
        `executed without errors, with figures`;
    }
  }

  // Summary.
  const s = summarizeClaims(results);
  const claimLine = errors.length > 0 ? `${s.line}; ${errors.length} failed with an error` : s.line;
  console.error(
    [
      "",
      `summary (seed ${seed}${quick ? ", quick" : ""}, ${seconds(performance.now() - started)}):`,
      `  ${claimLine}`,
      `  ${notebookLine}`,
      "  wrote:",
      ...written.map((p) => `    ${relative(Deno.cwd(), p) || p}`),
    ].join("\n"),
  );
  return errors.length > 0 || notebookFailures > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
