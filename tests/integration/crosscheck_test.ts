/**
 * The real-kernel cross-check (crosscheck/run.ts, issue 11).
 *
 * - "crosscheck: comparison and parsing" always runs, with no permissions: it checks the
 *   comparison layer, the interpretation of driver results and the apt helpers on fixtures.
 * - "crosscheck: real kernels agree with the model" boots the kernels. It runs when `CI` is set,
 *   or when `MMSIM_CROSSCHECK=1` (needs `--allow-env=MMSIM_CROSSCHECK`); otherwise it is ignored
 *   and says so. A boot that panics or gives no result is retried once (runCrosscheck does it per
 *   boot). It fails on a disagreement (pending predictions do not fail), on an experiment with no
 *   result on a kernel that was fetched, and when no kernel of any series could be fetched; an
 *   unavailable series is reported by name.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  compareDebianVersions,
  inSeries,
  parseAptSources,
  parseKernelPackage,
} from "../../crosscheck/_apt.ts";
import { toolPaths } from "../../crosscheck/_exec.ts";
import { parseConsole } from "../../crosscheck/_qemu.ts";
import { compareRows, formatRows } from "../../crosscheck/compare.ts";
import {
  compactionPassedHungPages,
  formatFolioSizes,
  interpret,
} from "../../crosscheck/observe.ts";
import { pendingPredictions, type PredictionMap } from "../../crosscheck/predictions.ts";
import { ROOT, runCrosscheck } from "../../crosscheck/run.ts";
import type { Observation, ObservationsFile } from "../../crosscheck/types.ts";

function envFlag(name: string): string {
  const granted = Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
  return granted ? Deno.env.get(name) ?? "" : "";
}

const onCI = envFlag("CI") !== "" && envFlag("CI") !== "false";
const wanted = onCI || envFlag("MMSIM_CROSSCHECK") === "1";

/** A driver result per experiment, shaped as the guest prints them. */
const writebackResult = (wb: number, tmp: number) => ({
  event: "result",
  test: "writeback",
  samples: [[10, 3900, 0, 0], [4000, 0, wb, tmp]],
  bytes: 4194304,
  writeDelayMs: 5000,
  maxRatioBefore: "1",
  maxRatioAfter: "100",
  peakKb: { Dirty: 3900, Writeback: wb, WritebackTmp: tmp },
});
const hungResult = (blocked: boolean, taken: number) => ({
  event: "result",
  test: "hungread",
  hungFrames: 32,
  hungPageMoved: false,
  framesGone: 0,
  framesAppeared: 0,
  compactionBlocked: blocked,
  compactorWchan: blocked ? "folio_wait_bit_common" : "",
  compactMs: blocked ? -1 : 40,
  compactorAfterReleaseMs: blocked ? 200 : -1,
  trace: { available: true, isolateRangesOverHungTaken: taken },
});
const splitResult = (after: number[]) => ({
  event: "result",
  test: "split",
  arg: "/mnt/thp/thp,0x0,0x200,0,5",
  argFormat: "path,off_start,off_end,new_order,in_folio_offset",
  writeRet: 26,
  foliosBefore: [512],
  foliosAfter: after,
  samePfns: true,
});

function fixture(): ObservationsFile {
  const obs = (
    series: "6.1" | "7.x",
    experiment: Observation["experiment"],
    result: Record<string, unknown>,
  ): Observation => {
    const { outcome, summary, note } = interpret(experiment, result);
    return {
      experiment,
      series,
      release: series === "6.1" ? "6.1.0-56-amd64" : "7.3.4+deb13-amd64",
      kernelVersion: series === "6.1" ? "6.1" : "7.3",
      status: outcome ? "ok" : "error",
      attempts: 1,
      ...(outcome ? { outcome } : {}),
      summary,
      ...(note ? { note } : {}),
      details: result,
      bootSeconds: 10,
      log: "out/crosscheck/logs/x.log",
    };
  };
  const nonUniform = [4, 1, 1, 2, 8, 16, 32, 64, 128, 256];
  return {
    schema: 1,
    qemu: "QEMU",
    qemuArgs: [],
    timings: { install: 0, fetch: 0, build: 0, boot: 0, total: 0 },
    kernels: [
      {
        series: "6.1",
        status: "ok",
        packages: ["linux-image-6.1.0-56-amd64"],
        version: "6.1.192-2",
        release: "6.1.0-56-amd64",
        kernelVersion: "6.1",
        fuse: "m",
        modules: ["fuse.ko"],
        cached: false,
      },
      { series: "6.12", status: "unavailable", reason: "no package" },
      {
        series: "7.x",
        status: "ok",
        packages: ["linux-binary-7.3.4+deb13-amd64"],
        version: "7.3.4-1~bpo13+1",
        release: "7.3.4+deb13-amd64",
        kernelVersion: "7.3",
        fuse: "y",
        modules: [],
        cached: false,
      },
    ],
    observations: [
      obs("6.1", "fuse-writeback", writebackResult(0, 3968)),
      obs("6.1", "hung-read-compaction", hungResult(false, 0)),
      obs("6.1", "split-at-page", splitResult(Array(512).fill(1))),
      obs("7.x", "fuse-writeback", writebackResult(3456, 0)),
      obs("7.x", "hung-read-compaction", hungResult(true, 1)),
      obs("7.x", "split-at-page", splitResult(nonUniform)),
    ],
  };
}

Deno.test("crosscheck: comparison and parsing", async (t) => {
  await t.step("interpret: the counter, the move, the folio sizes", () => {
    assert.deepEqual(interpret("fuse-writeback", writebackResult(0, 3968)).outcome, {
      holder: "WritebackTmp",
    });
    assert.deepEqual(interpret("fuse-writeback", writebackResult(3456, 0)).outcome, {
      holder: "Writeback",
    });
    assert.deepEqual(interpret("fuse-writeback", writebackResult(10, 20)).outcome, {
      holder: "neither",
    });
    const hung = interpret("hung-read-compaction", hungResult(true, 1));
    assert.deepEqual(hung.outcome, { hungPageMoved: false, compactionBlocked: true });
    assert.equal(hung.note, undefined);
    assert.match(
      interpret("hung-read-compaction", hungResult(false, 0)).note ?? "",
      /never reached/,
    );
    const bad = interpret("split-at-page", { ...splitResult([1]), foliosBefore: [256, 256] });
    assert.equal(bad.outcome, undefined);
    assert.equal(formatFolioSizes(Array(512).fill(1)), "512×1");
    assert.equal(formatFolioSizes([4, 1, 1, 2, 8]), "4,1,1,2,8");
  });

  await t.step("hung reads: compaction passed the hung frames or not", () => {
    const ends = (migrate: number) => [
      "zone_start=0x1 migrate_pfn=0xe00 free_pfn=0xe00 zone_end=0x1000, mode=sync status=complete",
      `zone_start=0x1000 migrate_pfn=0x${migrate.toString(16)} free_pfn=0x1ec0 ` +
      "zone_end=0x1ffe0, mode=sync status=complete",
    ];
    const r = (blocked: boolean, migrate: number) => ({
      ...hungResult(blocked, 1),
      pfnsBefore: [7579, 7580, 7629],
      trace: { available: true, isolateRangesOverHungTaken: 1, ends: ends(migrate) },
    });
    assert.equal(compactionPassedHungPages(r(true, 0x1e00)), true);
    assert.equal(compactionPassedHungPages(r(false, 0x1e00)), true);
    assert.equal(compactionPassedHungPages(r(false, 0x1d00)), false);
    assert.equal(compactionPassedHungPages(undefined), false);
  });

  await t.step("pending predictions never agree or disagree", () => {
    const obs = fixture();
    const rows = compareRows(obs, pendingPredictions([{ series: "6.1", kernelVersion: "6.1" }]));
    assert.equal(rows.length, 9);
    assert.ok(rows.every((r) => r.agree !== "yes" && r.agree !== "no"));
    const unavailable = rows.filter((r) => r.series === "6.12");
    assert.ok(unavailable.every((r) => r.agree === "no observation" && r.note === "no package"));
    const notReached = rows.find((r) =>
      r.series === "6.1" && r.experiment === "hung-read-compaction"
    );
    assert.equal(notReached?.agree, "inconclusive");
    assert.match(formatRows(rows), /split-at-page +7\.x \(7\.3\.4\+deb13-amd64\)/);
  });

  await t.step("predicted outcomes: agreement on the claim fields only", () => {
    const obs = fixture();
    const src = "fixture";
    const predictions: PredictionMap = {
      "fuse-writeback": {
        "6.1": { status: "predicted", outcome: { holder: "WritebackTmp" }, source: src },
        "7.x": { status: "predicted", outcome: { holder: "WritebackTmp" }, source: src },
      },
      "hung-read-compaction": {
        "7.x": {
          status: "predicted",
          outcome: { hungPageMoved: false, compactionBlocked: true },
          source: src,
        },
      },
      "split-at-page": {
        "6.1": { status: "predicted", outcome: { folioSizes: Array(512).fill(1) }, source: src },
        "7.x": { status: "predicted", outcome: { folioSizes: Array(512).fill(1) }, source: src },
      },
    };
    const rows = compareRows(obs, predictions);
    const get = (s: string, e: string) => rows.find((r) => r.series === s && r.experiment === e)!;
    assert.equal(get("6.1", "fuse-writeback").agree, "yes");
    assert.equal(get("7.x", "fuse-writeback").agree, "no");
    assert.equal(get("7.x", "hung-read-compaction").agree, "yes");
    assert.equal(get("6.1", "split-at-page").agree, "yes");
    assert.equal(get("7.x", "split-at-page").agree, "no");
    assert.equal(get("6.1", "hung-read-compaction").agree, "inconclusive");
  });

  await t.step("console parsing skips lines broken by kernel messages", () => {
    const text = 'junk\r\nMMSIM {"event":"boot","release":"6.1"}\r\n' +
      'MMSIM {"event":"res[   3.1] fuse: init\nMMSIM {"event":"done"}\n';
    assert.deepEqual(parseConsole(text), [{ event: "boot", release: "6.1" }, { event: "done" }]);
  });

  await t.step("apt helpers: versions, kernel package names, source files", () => {
    assert.ok(compareDebianVersions("6.1.192-2", "6.1.158-1") > 0);
    assert.ok(compareDebianVersions("7.3.4-1~bpo13+1", "7.3.4-1") < 0);
    assert.ok(compareDebianVersions("1:1.0", "2.0") > 0);
    assert.equal(compareDebianVersions("6.12.117-1~deb12u1", "6.12.117-1~deb12u1"), 0);
    const p = parseKernelPackage("linux-image-6.1.0-56-amd64");
    assert.deepEqual(p && [p.upstream, p.abi, p.kind, p.unsigned], [[6, 1, 0], 56, "image", false]);
    const b = parseKernelPackage("linux-binary-7.3.4+deb13-amd64");
    assert.ok(b && inSeries(b, "7.x") && !inSeries(b, "6.1") && b.id === "7.3.4+deb13-amd64");
    assert.equal(parseKernelPackage("linux-image-6.12-amd64"), undefined); // meta
    assert.equal(parseKernelPackage("linux-image-7.3.4+deb13-cloud-amd64"), undefined);
    assert.equal(parseKernelPackage("linux-image-7.3.4+deb13-amd64-dbg"), undefined);
    const u = parseKernelPackage("linux-image-6.12.117+deb12-amd64-unsigned");
    assert.ok(u?.unsigned && inSeries(u, "6.12") && !inSeries(u, "6.1"));
    const deb822 = "Types: deb\n# comment\nURIs: http://archive.invalid/debian\nSuites: bookworm " +
      "bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/k.gpg\n\n" +
      "Types: deb-src\nURIs: http://src.invalid/\nSuites: bookworm\nComponents: main\n";
    assert.deepEqual(parseAptSources(deb822, true), [{
      uri: "http://archive.invalid/debian",
      suites: ["bookworm", "bookworm-updates"],
      components: ["main"],
      signedBy: "/usr/share/keyrings/k.gpg",
    }]);
    assert.deepEqual(
      parseAptSources(
        "deb [arch=amd64 signed-by=/k.gpg] http://a.invalid/d bookworm main contrib\n",
        false,
      ),
      [{
        uri: "http://a.invalid/d",
        suites: ["bookworm"],
        components: ["main", "contrib"],
        signedBy: "/k.gpg",
      }],
    );
  });
});

if (!wanted) {
  console.log(
    "crosscheck_test: ignoring the real-kernel cross-check (set CI, or MMSIM_CROSSCHECK=1 with " +
      "--allow-env=MMSIM_CROSSCHECK, to boot the kernels; or run `deno task crosscheck`).",
  );
}

Deno.test({
  name: "crosscheck: real kernels agree with the model",
  ignore: !wanted,
  permissions: {
    read: [
      join(ROOT, "crosscheck"),
      join(ROOT, "out"),
      "/etc/apt",
      "/etc/os-release",
      "/usr/share/keyrings",
      "/bin/busybox",
      "/usr/bin/busybox",
    ],
    write: [join(ROOT, "out")],
    run: toolPaths(),
    env: false,
    net: false,
  },
  async fn() {
    const res = await runCrosscheck({ log: (m) => console.log(`crosscheck: ${m}`) });
    console.log(formatRows(res.rows));
    const kernels = res.observations.kernels;
    const unavailable = kernels.flatMap((k) =>
      k.status === "ok" ? [] : [`${k.series} (${k.reason})`]
    );
    if (unavailable.length > 0) {
      console.log(`crosscheck: unavailable series: ${unavailable.join(", ")}`);
    }
    assert.ok(
      kernels.some((k) => k.status === "ok"),
      `no kernel of any series could be fetched: ${unavailable.join(", ")}`,
    );
    const failed = res.observations.observations.filter((o) => o.status !== "ok");
    assert.deepEqual(
      failed.map((o) => `${o.series} ${o.experiment}: ${o.note} (${o.attempts} boots, ${o.log})`),
      [],
      "experiments without a result on a fetched kernel",
    );
    const disagree = res.rows.filter((r) => r.agree === "no");
    assert.deepEqual(
      disagree.map((r) =>
        `${r.experiment} ${r.series}: model ${r.prediction}, real ${r.observation}`
      ),
      [],
      "the model disagrees with a real kernel (see out/crosscheck.md)",
    );
  },
});
