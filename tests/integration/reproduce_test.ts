/**
 * `deno task reproduce` as a user runs it: exit codes, JSON on stdout, help.
 * Runs without the notebooks (notebooks_test executes them).
 */

import assert from "node:assert/strict";
import { allClaims } from "../../mod.ts";
import { ROOT } from "../../tools/_jupyter.ts";

async function reproduce(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write=out,.jupyter",
      "--allow-env",
      "--allow-run",
      "tools/reproduce.ts",
      ...args,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("reproduce prints claims and exits 0 on findings, non-zero on errors", async (t) => {
  await t.step("--json prints one object per claim on stdout", async () => {
    // One claim keeps this test short (tests/claims runs them all); none registered: all (none).
    const first = allClaims().ids()[0];
    const only = first === undefined ? [] : ["--claim", first];
    const r = await reproduce("--no-notebooks", "--json", "--quick", "--seed", "3", ...only);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    assert.ok(Array.isArray(results));
    assert.equal(results.length, only.length === 0 ? 0 : 1);
    for (const c of results) {
      for (
        const k of ["id", "thread", "by", "statement", "era", "verdict", "expected", "figures"]
      ) {
        assert.ok(k in c, `${String(c.id)} has no ${k}`);
      }
      assert.equal(c.seed, 3);
      assert.equal(typeof c.agrees, "boolean");
    }
    assert.match(r.stderr, /summary \(seed 3, quick/);
    assert.match(r.stderr, /out\/claims\.json/);
  });
  await t.step("--help exits 0", async () => {
    const r = await reproduce("--help");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--claim ID/);
  });
  await t.step("an unknown claim or a bad seed exits 2 with the reason", async () => {
    const unknown = await reproduce("--claim", "C9.99", "--no-notebooks");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no claim C9\.99/);
    const seed = await reproduce("--seed", "x", "--no-notebooks");
    assert.equal(seed.code, 2);
    assert.match(seed.stderr, /--seed must be a non-negative integer/);
  });
});
