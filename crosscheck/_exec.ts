/**
 * Running host tools for the cross-check: absolute paths (so Deno's `--allow-run` list can name
 * tools that apt installs during the run), captured output, and errors that name the command.
 *
 * @module
 */

/** Host tools by name; each is looked up in /usr/bin, /bin, /usr/sbin and /sbin. */
export const TOOLS = [
  "apt-get",
  "apt-cache",
  "dpkg-query",
  "dpkg-deb",
  "sudo",
  "id",
  "gcc",
  "cpio",
  "qemu-system-x86_64",
  "xz",
  "zstd",
] as const;

/** A tool name from {@link TOOLS}. */
export type Tool = typeof TOOLS[number];

/**
 * Where tools are looked for, in order. Debian has merged /usr, so /usr/bin holds them all;
 * the task's `--allow-run` names the /usr/bin paths.
 */
const DIRS = ["/usr/bin", "/bin"];

/** Every absolute path a tool may be run from: the `--allow-run` list of the task and test. */
export function toolPaths(): string[] {
  return TOOLS.map((t) => `${DIRS[0]}/${t}`);
}

const found = new Map<Tool, string>();

/** Spawns a tool from the first directory that has it; undefined when none does. */
export function spawn(
  tool: Tool,
  opts: Deno.CommandOptions,
): { path: string; child: Deno.ChildProcess } | undefined {
  const known = found.get(tool);
  for (const d of known ? [known.slice(0, known.lastIndexOf("/"))] : DIRS) {
    const path = `${d}/${tool}`;
    try {
      const child = new Deno.Command(path, opts).spawn();
      found.set(tool, path);
      return { path, child };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotCapable) continue;
      throw e;
    }
  }
  return undefined;
}

/** Whether a tool can be run (it is installed and allowed). */
export async function hasTool(tool: Tool): Promise<boolean> {
  const s = spawn(tool, { args: ["--version"], stdin: "null", stdout: "null", stderr: "null" });
  if (!s) return false;
  await s.child.status;
  return true;
}

/** Result of {@link run}. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Standard output as text. */
  stdout: string;
  /** Standard error as text. */
  stderr: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Working directory. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Throw unless the exit code is 0 (default true). */
  check?: boolean;
  /** Bytes for standard input. */
  stdin?: Uint8Array;
  /** Run through sudo (for apt-get when not root). */
  sudo?: boolean;
}

/** Runs a host tool and returns its output; throws (naming the command) on failure. */
export async function run(tool: Tool, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const spec = (path: string): [string, string[]] =>
    opts.sudo
      ? ["sudo", [
        "-n",
        "/usr/bin/env",
        ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`),
        path,
        ...args,
      ]]
      : [tool, args];
  const base: Deno.CommandOptions = {
    cwd: opts.cwd,
    env: opts.env,
    stdin: opts.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  };
  let s: { path: string; child: Deno.ChildProcess } | undefined;
  if (opts.sudo) {
    const target = found.get(tool) ?? `${DIRS[0]}/${tool}`;
    s = spawn("sudo", { ...base, args: spec(target)[1] });
    if (!s) throw new Error(`Cannot run ${tool} as root: not root and sudo is not installed`);
  } else {
    s = spawn(tool, { ...base, args });
    if (!s) throw new Error(`Cannot run ${tool}: not installed in ${DIRS.join(" or ")}`);
  }
  const child = s.child;
  if (opts.stdin) {
    const w = child.stdin.getWriter();
    await w.write(opts.stdin);
    await w.close();
  }
  const out = await child.output();
  const res = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if ((opts.check ?? true) && res.code !== 0) {
    const tail = (res.stderr || res.stdout).trim().split("\n").slice(-8).join("\n");
    throw new Error(`${tool} ${args.join(" ")} exited ${res.code}:\n${tail}`);
  }
  return res;
}

/** The absolute path a tool was last run from (undefined before its first run). */
export function pathOf(tool: Tool): string | undefined {
  return found.get(tool);
}

/** Seconds since `t0` (a `performance.now()` value), 1 decimal. */
export function secondsSince(t0: number): number {
  return Math.round((performance.now() - t0) / 100) / 10;
}
