/**
 * Host packages and Debian kernels for the cross-check, through apt's own clients.
 *
 * - Host packages (QEMU, busybox-static, libfuse3-dev, fuse3, cpio, a C compiler) are installed
 *   with `apt-get install` after `apt-get update` (sudo only when not root).
 * - Kernels are never installed: `apt-get download` fetches the package, `dpkg-deb -x` unpacks
 *   it, and only the image, its config and the modules FUSE needs are kept.
 * - Package names are resolved at run time (`apt-cache search` / `apt-cache show`), since old
 *   ABI names vanish from the archive.
 * - The 7.x series comes from the trixie-backports suite through a private apt configuration
 *   (source list, state and cache directories under `out/crosscheck/apt-private/`) used only
 *   for that download. Its archive address is read from the machine's own apt sources, so no
 *   host name is written here.
 *
 * @module
 */

import { join } from "node:path";
import { run } from "./_exec.ts";
import type { SeriesId } from "./types.ts";

const APT_ENV = { DEBIAN_FRONTEND: "noninteractive" };
const LOCK_WAIT = ["-o", "DPkg::Lock::Timeout=300"];

/** Host packages the cross-check needs (a C compiler is added when `gcc` is missing). */
export const HOST_PACKAGES: readonly string[] = [
  "qemu-system-x86",
  "busybox-static",
  "libfuse3-dev",
  "fuse3",
  "cpio",
];

/** True when running as root (no sudo needed for apt). */
export async function isRoot(): Promise<boolean> {
  return (await run("id", ["-u"])).stdout.trim() === "0";
}

/** Installed packages among `names` (dpkg's "installed" status). */
async function installedPackages(names: readonly string[]): Promise<Set<string>> {
  const res = await run("dpkg-query", ["-W", "-f", "${Package} ${db:Status-Status}\\n", ...names], {
    check: false,
  });
  const ok = new Set<string>();
  for (const line of res.stdout.split("\n")) {
    const [pkg, status] = line.trim().split(/\s+/);
    if (pkg && status === "installed") ok.add(pkg.replace(/:.*$/, ""));
  }
  return ok;
}

/**
 * `apt-get update`, then install whichever of {@link HOST_PACKAGES} (and gcc + libc6-dev when
 * no gcc is installed) are missing. Returns the packages installed.
 */
export async function installHostPackages(
  hasGcc: boolean,
  log: (msg: string) => void,
): Promise<string[]> {
  const sudo = !(await isRoot());
  log(`apt-get update${sudo ? " (sudo)" : ""}`);
  await run("apt-get", [...LOCK_WAIT, "-q", "update"], { env: APT_ENV, sudo });
  const want = [...HOST_PACKAGES, ...(hasGcc ? [] : ["gcc", "libc6-dev"])];
  const have = await installedPackages(want);
  const missing = want.filter((p) => !have.has(p));
  if (missing.length > 0) {
    log(`apt-get install ${missing.join(" ")}`);
    await run(
      "apt-get",
      [...LOCK_WAIT, "-q", "-y", "--no-install-recommends", "install", ...missing],
      { env: APT_ENV, sudo },
    );
  }
  return missing;
}

/** An archive entry of the host's apt sources. */
export interface ArchiveEntry {
  /** Archive address (as written in the host's sources). */
  uri: string;
  /** Suites of the entry. */
  suites: string[];
  /** Components of the entry. */
  components: string[];
  /** Signed-By keyring, if given. */
  signedBy?: string;
}

/** Parses one-line (`sources.list`) and deb822 (`*.sources`) apt source files. */
export function parseAptSources(text: string, deb822: boolean): ArchiveEntry[] {
  const out: ArchiveEntry[] = [];
  if (!deb822) {
    for (const raw of text.split("\n")) {
      const line = raw.replace(/#.*$/, "").trim();
      const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
      if (!m) continue;
      const opts = m[1] ?? "";
      const signed = /signed-by=(\S+)/.exec(opts)?.[1];
      out.push({
        uri: m[2]!,
        suites: [m[3]!],
        components: (m[4] ?? "").split(/\s+/).filter(Boolean),
        ...(signed ? { signedBy: signed } : {}),
      });
    }
    return out;
  }
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = "";
    for (const raw of stanza.split("\n")) {
      if (raw.startsWith("#")) continue;
      if (/^\s/.test(raw) && last) {
        fields.set(last, `${fields.get(last)}\n${raw.trim()}`);
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) {
        last = m[1]!.toLowerCase();
        fields.set(last, m[2]!);
      }
    }
    if (!(fields.get("types") ?? "").split(/\s+/).includes("deb")) continue;
    if ((fields.get("enabled") ?? "yes").toLowerCase() === "no") continue;
    const signed = fields.get("signed-by");
    for (const uri of (fields.get("uris") ?? "").split(/\s+/).filter(Boolean)) {
      out.push({
        uri,
        suites: (fields.get("suites") ?? "").split(/\s+/).filter(Boolean),
        components: (fields.get("components") ?? "").split(/\s+/).filter(Boolean),
        // An inline key block is not a path; fall back to the default keyring then.
        ...(signed && !signed.includes("\n") && signed.startsWith("/") ? { signedBy: signed } : {}),
      });
    }
  }
  return out;
}

/** The host's apt source entries, read from /etc/apt/sources.list(.d) as apt does. */
export async function hostAptSources(): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  const read = async (path: string, deb822: boolean) => {
    try {
      entries.push(...parseAptSources(await Deno.readTextFile(path), deb822));
    } catch {
      // absent
    }
  };
  await read("/etc/apt/sources.list", false);
  try {
    const names = [...Deno.readDirSync("/etc/apt/sources.list.d")].map((e) => e.name).sort();
    for (const n of names) {
      if (n.endsWith(".list")) await read(join("/etc/apt/sources.list.d", n), false);
      if (n.endsWith(".sources")) await read(join("/etc/apt/sources.list.d", n), true);
    }
  } catch {
    // no directory
  }
  return entries;
}

/** The host's release codename (VERSION_CODENAME of /etc/os-release). */
export async function hostCodename(): Promise<string | undefined> {
  try {
    const text = await Deno.readTextFile("/etc/os-release");
    return /^VERSION_CODENAME=(.*)$/m.exec(text)?.[1]?.replace(/"/g, "");
  } catch {
    return undefined;
  }
}

/**
 * The Debian archive address the host already uses: the entry carrying the host's own release
 * suite with component main (not the security archive).
 */
export async function hostDebianArchive(): Promise<ArchiveEntry | undefined> {
  const entries = await hostAptSources();
  const codename = await hostCodename();
  const main = entries.filter((e) => e.components.includes("main"));
  return main.find((e) => codename !== undefined && e.suites.includes(codename)) ??
    main.find((e) => e.suites.some((s) => /^[a-z]+(-updates|-backports)?$/.test(s)));
}

const DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/**
 * Writes a private apt configuration for `suite` at `dir` (source list, empty source-parts and
 * preferences, state, cache, an empty dpkg status) and returns the `-o` options that select it.
 */
export async function privateApt(
  dir: string,
  suite: string,
  archive: ArchiveEntry,
): Promise<string[]> {
  const parts = join(dir, "sources.list.d");
  const prefs = join(dir, "preferences.d");
  for (
    const d of [parts, prefs, join(dir, "state/lists/partial"), join(dir, "cache/archives/partial")]
  ) {
    await Deno.mkdir(d, { recursive: true });
  }
  let keyring = archive.signedBy;
  if (!keyring) {
    try {
      Deno.statSync(DEFAULT_KEYRING);
      keyring = DEFAULT_KEYRING;
    } catch {
      keyring = undefined;
    }
  }
  const list = join(dir, "sources.list");
  await Deno.writeTextFile(
    list,
    `deb ${keyring ? `[signed-by=${keyring}] ` : ""}${archive.uri} ${suite} main\n`,
  );
  const status = join(dir, "status");
  await Deno.writeTextFile(status, "");
  return [
    "-o",
    `Dir::Etc::SourceList=${list}`,
    "-o",
    `Dir::Etc::SourceParts=${parts}`,
    "-o",
    `Dir::Etc::Preferences=${join(dir, "preferences")}`,
    "-o",
    `Dir::Etc::PreferencesParts=${prefs}`,
    "-o",
    `Dir::State=${join(dir, "state")}`,
    "-o",
    `Dir::State::status=${status}`,
    "-o",
    `Dir::Cache=${join(dir, "cache")}`,
    "-o",
    "Acquire::Languages=none",
  ];
}

/** `apt-get update` for a private configuration (no root needed: all paths are ours). */
export async function privateAptUpdate(opts: string[]): Promise<void> {
  await run("apt-get", [...opts, "-q", "update"], { env: APT_ENV });
}

/** Compares Debian version strings as dpkg does (epoch, upstream, revision; `~` sorts first). */
export function compareDebianVersions(a: string, b: string): number {
  const split = (v: string): [number, string, string] => {
    const colon = v.indexOf(":");
    const epoch = colon >= 0 ? Number(v.slice(0, colon)) : 0;
    const rest = colon >= 0 ? v.slice(colon + 1) : v;
    const dash = rest.lastIndexOf("-");
    return dash >= 0 ? [epoch, rest.slice(0, dash), rest.slice(dash + 1)] : [epoch, rest, ""];
  };
  const order = (c: string): number =>
    c === "~" ? -1 : c === "" ? 0 : /[A-Za-z]/.test(c) ? c.charCodeAt(0) : c.charCodeAt(0) + 256;
  const part = (x: string, y: string): number => {
    let i = 0;
    let j = 0;
    while (i < x.length || j < y.length) {
      let diff = 0;
      while ((i < x.length && !/\d/.test(x[i]!)) || (j < y.length && !/\d/.test(y[j]!))) {
        const ox = i < x.length && !/\d/.test(x[i]!) ? order(x[i]!) : 0;
        const oy = j < y.length && !/\d/.test(y[j]!) ? order(y[j]!) : 0;
        if (ox !== oy) return ox - oy;
        if (i < x.length && !/\d/.test(x[i]!)) i++;
        if (j < y.length && !/\d/.test(y[j]!)) j++;
      }
      let nx = "";
      let ny = "";
      while (i < x.length && /\d/.test(x[i]!)) nx += x[i++];
      while (j < y.length && /\d/.test(y[j]!)) ny += y[j++];
      diff = Number(nx || "0") - Number(ny || "0");
      if (diff !== 0) return diff;
    }
    return 0;
  };
  const [ea, ua, ra] = split(a);
  const [eb, ub, rb] = split(b);
  return ea !== eb ? ea - eb : part(ua, ub) || part(ra, rb);
}

/** A kernel image package name, parsed. */
export interface KernelPackageName {
  /** The package name. */
  name: string;
  /** "binary" (split packaging: the image only) or "image". */
  kind: "binary" | "image";
  /** Upstream version numbers [major, minor, patch]. */
  upstream: [number, number, number];
  /** Debian ABI number (6.1 series: 6.1.0-<abi>), 0 when absent. */
  abi: number;
  /** Kernel id shared by the packages of one build, e.g. "7.3.4+deb13-amd64". */
  id: string;
  /** The `-unsigned` variant. */
  unsigned: boolean;
}

/**
 * Parses `linux-image-6.1.0-56-amd64`, `linux-image-6.12.117+deb12-amd64-unsigned`,
 * `linux-binary-7.3.4+deb13-amd64`; undefined for flavours (cloud, rt), debug packages and
 * meta packages without a patch level.
 */
export function parseKernelPackage(name: string): KernelPackageName | undefined {
  const m = /^linux-(image|binary)-((\d+)\.(\d+)\.(\d+)(?:-(\d+))?(?:\+deb\d+)?-amd64)(-unsigned)?$/
    .exec(name);
  if (!m) return undefined;
  return {
    name,
    kind: m[1] as "binary" | "image",
    upstream: [Number(m[3]), Number(m[4]), Number(m[5])],
    abi: Number(m[6] ?? 0),
    id: m[2]!,
    unsigned: m[7] !== undefined,
  };
}

/** Whether a parsed package belongs to a series. */
export function inSeries(p: KernelPackageName, series: SeriesId): boolean {
  const [maj, min] = p.upstream;
  if (series === "7.x") return maj === 7;
  return `${maj}.${min}` === series;
}

/** A stanza of `apt-cache show`. */
interface PackageStanza {
  name: string;
  version: string;
  size: number;
  depends: string;
}

async function showPackages(opts: string[], names: string[]): Promise<PackageStanza[]> {
  if (names.length === 0) return [];
  const res = await run("apt-cache", [...opts, "show", "--no-all-versions", ...names], {
    check: false,
  });
  const out: PackageStanza[] = [];
  for (const stanza of res.stdout.split(/\n\s*\n/)) {
    const get = (k: string) => new RegExp(`^${k}: (.*)$`, "m").exec(stanza)?.[1] ?? "";
    const name = get("Package");
    if (name) {
      out.push({
        name,
        version: get("Version"),
        size: Number(get("Size") || 0),
        depends: get("Depends"),
      });
    }
  }
  return out;
}

/** The packages chosen for a series. */
export interface KernelChoice {
  /** The package with the kernel image. */
  image: { name: string; version: string };
  /** Other packages of the same build to unpack with it (linux-base-*: config). */
  extra: { name: string; version: string }[];
  /** The kernel id, e.g. "6.1.0-56-amd64". */
  id: string;
  /** "major.minor". */
  kernelVersion: string;
}

/**
 * Picks the newest kernel of a series from the indexes `opts` select (host or private): the
 * highest upstream version and ABI, preferring the split `linux-binary-*` image package, then
 * the signed `linux-image-*`, then `-unsigned`; packages under 1 MB are meta packages.
 */
export async function resolveKernel(
  series: SeriesId,
  opts: string[],
): Promise<KernelChoice | undefined> {
  const search = await run("apt-cache", [
    ...opts,
    "search",
    "--names-only",
    "^linux-(image|binary)-",
  ]);
  const names = search.stdout.split("\n").map((l) => l.split(" - ")[0]!.trim())
    .map(parseKernelPackage)
    .filter((p): p is KernelPackageName => p !== undefined && inSeries(p, series));
  const stanzas = new Map(
    (await showPackages(opts, names.map((p) => p.name))).map((s) => [s.name, s]),
  );
  const cands = names.filter((p) => (stanzas.get(p.name)?.size ?? 0) > 1_000_000);
  if (cands.length === 0) return undefined;
  const rank = (p: KernelPackageName) => (p.kind === "binary" ? 0 : p.unsigned ? 2 : 1);
  cands.sort((a, b) =>
    b.upstream[0] - a.upstream[0] || b.upstream[1] - a.upstream[1] ||
    b.upstream[2] - a.upstream[2] || b.abi - a.abi ||
    compareDebianVersions(stanzas.get(b.name)!.version, stanzas.get(a.name)!.version) ||
    rank(a) - rank(b)
  );
  const best = cands[0]!;
  const st = stanzas.get(best.name)!;
  const extra: { name: string; version: string }[] = [];
  // Split packaging: the config and modules.builtin live in linux-base-<id>.
  const base = new RegExp(`(^|[ ,])(linux-base-${best.id.replace(/[.+]/g, "\\$&")})\\b`).exec(
    st.depends,
  );
  if (base) {
    const b = (await showPackages(opts, [base[2]!]))[0];
    if (b) extra.push({ name: b.name, version: b.version });
  }
  return {
    image: { name: best.name, version: st.version },
    extra,
    id: best.id,
    kernelVersion: `${best.upstream[0]}.${best.upstream[1]}`,
  };
}

/** The linux-modules-<id> package of a split-packaged kernel, if the indexes have it. */
export async function modulesPackage(
  id: string,
  opts: string[],
): Promise<{ name: string; version: string } | undefined> {
  const s = (await showPackages(opts, [`linux-modules-${id}`]))[0];
  return s ? { name: s.name, version: s.version } : undefined;
}

/** `apt-get download name=version…` into `dir`; returns the .deb paths. */
export async function downloadPackages(
  pkgs: { name: string; version: string }[],
  dir: string,
  opts: string[],
): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const root = await isRoot();
  // As root apt drops to the _apt user for downloads, which cannot write to our directory.
  const sandbox = root ? ["-o", "APT::Sandbox::User=root"] : [];
  await run("apt-get", [
    ...opts,
    ...sandbox,
    "-q",
    "download",
    ...pkgs.map((p) => `${p.name}=${p.version}`),
  ], {
    cwd: dir,
    env: APT_ENV,
  });
  const debs = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".deb"));
  return pkgs.map((p) => {
    const f = debs.find((n) => n.startsWith(`${p.name}_`));
    if (!f) throw new Error(`Cannot find the .deb of ${p.name} in ${dir} after apt-get download`);
    return join(dir, f);
  });
}

/** `dpkg-deb -x deb dir`. */
export async function unpack(deb: string, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await run("dpkg-deb", ["-x", deb, dir]);
}
