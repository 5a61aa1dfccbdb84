import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  __GFP_ACCOUNT,
  __GFP_COMP,
  __GFP_DIRECT_RECLAIM,
  __GFP_DMA,
  __GFP_DMA32,
  __GFP_FS,
  __GFP_HARDWALL,
  __GFP_HIGH,
  __GFP_HIGHMEM,
  __GFP_IO,
  __GFP_KSWAPD_RECLAIM,
  __GFP_MOVABLE,
  __GFP_NOMEMALLOC,
  __GFP_NOWARN,
  __GFP_RECLAIM,
  __GFP_RECLAIMABLE,
  __GFP_ZERO,
  currentGfpContext,
  Engine,
  GFP_ATOMIC,
  GFP_HIGHUSER,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_NOFS,
  GFP_NOIO,
  GFP_NOWAIT,
  GFP_TRANSHUGE,
  GFP_TRANSHUGE_LIGHT,
  GFP_USER,
  gfpflagsAllowBlocking,
  gfpMigratetype,
  gfpToString,
  memallocNofsRestore,
  memallocNofsSave,
  memallocNoioRestore,
  memallocNoioSave,
  memallocNoreclaimRestore,
  memallocNoreclaimSave,
  MIGRATE,
  PF_MEMALLOC_NOFS,
  PF_MEMALLOC_NOIO,
  PF_MEMALLOC_PIN,
  TaskFlag,
} from "../../../mod.ts";

/** Every named flag (composites and single bits), to parse gfpToString output back. */
const NAMED: Record<string, number> = {
  GFP_TRANSHUGE,
  GFP_TRANSHUGE_LIGHT,
  GFP_HIGHUSER_MOVABLE,
  GFP_HIGHUSER,
  GFP_USER,
  GFP_KERNEL_ACCOUNT: GFP_KERNEL | __GFP_ACCOUNT,
  GFP_KERNEL,
  GFP_NOFS,
  GFP_NOIO,
  GFP_ATOMIC,
  GFP_NOWAIT,
  GFP_DMA: __GFP_DMA,
  GFP_DMA32: __GFP_DMA32,
  __GFP_RECLAIM,
};
for (let b = 0; b < 23; b++) {
  const s = gfpToString(1 << b);
  if (!s.includes("|") && s.startsWith("__GFP_")) NAMED[s] = 1 << b;
}

Deno.test("GFP bits are the kernel's (include/linux/gfp_types.h, v6.10: 0x200 unused)", () => {
  assert.deepEqual(
    [__GFP_MOVABLE, __GFP_IO, __GFP_FS, __GFP_ZERO, __GFP_DIRECT_RECLAIM, __GFP_COMP],
    [0x08, 0x40, 0x80, 0x100, 0x400, 0x40000],
  );
  assert.equal(gfpToString(0x200), "0", "no flag at 0x200");
  assert.equal(GFP_KERNEL, 0xcc0, "the value every trace prints as gfp_flags=0xcc0(GFP_KERNEL)");
  assert.equal(GFP_HIGHUSER_MOVABLE, 0x100cca);
});

Deno.test("GFP combinations nest as the kernel defines them", () => {
  const sub = (a: number, b: number) => (a & b) === a;
  assert.ok(sub(GFP_NOIO, GFP_NOFS) && sub(GFP_NOFS, GFP_KERNEL) && sub(GFP_KERNEL, GFP_USER));
  assert.equal(GFP_KERNEL & ~GFP_NOFS, __GFP_FS);
  assert.equal(GFP_NOFS & ~GFP_NOIO, __GFP_IO);
  assert.equal(GFP_TRANSHUGE_LIGHT & __GFP_RECLAIM, 0, "THP fault: no reclaim at all");
  assert.equal(GFP_TRANSHUGE & __GFP_RECLAIM, __GFP_DIRECT_RECLAIM, "khugepaged: direct only");
});

Deno.test("gfpflagsAllowBlocking is __GFP_DIRECT_RECLAIM", () => {
  for (const g of [GFP_KERNEL, GFP_NOFS, GFP_NOIO, GFP_USER, GFP_HIGHUSER_MOVABLE, GFP_TRANSHUGE]) {
    assert.equal(gfpflagsAllowBlocking(g), true, gfpToString(g));
  }
  for (const g of [GFP_ATOMIC, GFP_NOWAIT, GFP_TRANSHUGE_LIGHT, 0]) {
    assert.equal(gfpflagsAllowBlocking(g), false, gfpToString(g));
  }
});

Deno.test("gfpMigratetype: MOVABLE, RECLAIMABLE or UNMOVABLE from the mobility bits", () => {
  assert.equal(gfpMigratetype(GFP_HIGHUSER_MOVABLE), MIGRATE.MOVABLE);
  assert.equal(gfpMigratetype(GFP_TRANSHUGE), MIGRATE.MOVABLE);
  assert.equal(gfpMigratetype(GFP_KERNEL | __GFP_RECLAIMABLE), MIGRATE.RECLAIMABLE);
  assert.equal(gfpMigratetype(GFP_KERNEL), MIGRATE.UNMOVABLE);
  assert.equal(gfpMigratetype(GFP_ATOMIC), MIGRATE.UNMOVABLE);
});

Deno.test("gfpToString names the largest combination first, then single bits", async (t) => {
  await t.step("examples", () => {
    assert.equal(gfpToString(GFP_KERNEL), "GFP_KERNEL");
    assert.equal(
      gfpToString(GFP_NOFS | __GFP_COMP | __GFP_NOWARN),
      "GFP_NOFS|__GFP_NOWARN|__GFP_COMP",
    );
    assert.equal(gfpToString(GFP_HIGHUSER_MOVABLE), "GFP_HIGHUSER_MOVABLE");
    assert.equal(gfpToString(GFP_ATOMIC), "GFP_ATOMIC");
    assert.equal(
      gfpToString(__GFP_HIGH | __GFP_KSWAPD_RECLAIM | __GFP_ZERO),
      "GFP_ATOMIC|__GFP_ZERO",
    );
  });
  await t.step("property: the names printed OR back to the flags, each bit named once", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: (1 << 23) - 1 }), (raw) => {
        const g = raw & ~0x200;
        const s = gfpToString(g);
        if (g === 0) return assert.equal(s, "0");
        let back = 0;
        for (const name of s.split("|")) {
          const v = NAMED[name];
          assert.ok(v !== undefined, `unknown name ${name} in ${s}`);
          assert.equal(back & v, 0, `${name} overlaps an earlier name in ${s}`);
          back |= v;
        }
        assert.equal(back, g, s);
      }),
      { numRuns: 300 },
    );
  });
});

Deno.test("gfpToString prints every combination of __def_gfpflag_names as %pGg does", () => {
  // include/trace/events/mmflags.h: GFP_TRANSHUGE … GFP_NOWAIT, GFP_DMA, GFP_DMA32,
  // __GFP_RECLAIM, then single bits; lib/vsprintf.c format_flags() goes on after a match.
  assert.equal(gfpToString(GFP_HIGHUSER), "GFP_HIGHUSER");
  assert.equal(gfpToString(GFP_NOWAIT), "GFP_NOWAIT");
  assert.equal(gfpToString(GFP_TRANSHUGE), "GFP_TRANSHUGE");
  assert.equal(gfpToString(GFP_TRANSHUGE_LIGHT), "GFP_TRANSHUGE_LIGHT");
  assert.equal(gfpToString(GFP_KERNEL | __GFP_ACCOUNT), "GFP_KERNEL_ACCOUNT");
  assert.equal(gfpToString(GFP_KERNEL | __GFP_DMA), "GFP_KERNEL|GFP_DMA");
  assert.equal(gfpToString(__GFP_DMA32 | __GFP_ZERO), "GFP_DMA32|__GFP_ZERO");
  // Two combinations in one value: GFP_NOWAIT's bits, then GFP_DMA's.
  assert.equal(gfpToString(GFP_NOWAIT | __GFP_DMA), "GFP_NOWAIT|GFP_DMA");
  assert.equal(gfpToString(__GFP_RECLAIM | __GFP_ZERO), "GFP_NOIO|__GFP_ZERO");
  assert.equal(gfpToString(__GFP_DIRECT_RECLAIM), "__GFP_DIRECT_RECLAIM");
});

/** Run `body` inside a task and return what it returned. */
function inTask<T>(body: (env: Engine) => T, flags = 0): T {
  const env = new Engine();
  let out: T | undefined;
  env.spawn("t", function* () {
    out = body(env);
  }, { flags });
  env.run();
  return out as T;
}

Deno.test("currentGfpContext applies the task's allocation scope", async (t) => {
  await t.step("NOFS clears __GFP_FS; NOIO clears __GFP_IO and __GFP_FS and wins over NOFS", () => {
    assert.equal(inTask((env) => currentGfpContext(env, GFP_KERNEL), PF_MEMALLOC_NOFS), GFP_NOFS);
    assert.equal(inTask((env) => currentGfpContext(env, GFP_KERNEL), PF_MEMALLOC_NOIO), GFP_NOIO);
    assert.equal(
      inTask((env) => currentGfpContext(env, GFP_KERNEL), PF_MEMALLOC_NOIO | PF_MEMALLOC_NOFS),
      GFP_NOIO,
    );
  });
  await t.step("PIN clears __GFP_MOVABLE (FOLL_LONGTERM pins stay out of movable blocks)", () => {
    const g = inTask((env) => currentGfpContext(env, GFP_HIGHUSER_MOVABLE), PF_MEMALLOC_PIN);
    assert.equal(g, GFP_HIGHUSER_MOVABLE & ~__GFP_MOVABLE);
    assert.equal(gfpMigratetype(g), MIGRATE.UNMOVABLE);
  });
  await t.step("outside any task, or with no scope, the flags are unchanged", () => {
    assert.equal(currentGfpContext(new Engine(), GFP_KERNEL), GFP_KERNEL);
    assert.equal(inTask((env) => currentGfpContext(env, GFP_KERNEL)), GFP_KERNEL);
  });
  await t.step("property: the scope only ever clears IO, FS and MOVABLE", () => {
    const scopes = [0, PF_MEMALLOC_NOFS, PF_MEMALLOC_NOIO, PF_MEMALLOC_PIN];
    fc.assert(
      fc.property(fc.nat((1 << 23) - 1), fc.subarray(scopes), (g, sc) => {
        const flags = sc.reduce((a, b) => a | b, 0);
        const out = inTask((env) => currentGfpContext(env, g), flags);
        assert.equal(out & ~g, 0, "never adds a flag");
        assert.equal((g & ~out) & ~(__GFP_IO | __GFP_FS | __GFP_MOVABLE), 0);
        if (flags & (PF_MEMALLOC_NOFS | PF_MEMALLOC_NOIO)) assert.equal(out & __GFP_FS, 0);
        if (flags & PF_MEMALLOC_NOIO) assert.equal(out & __GFP_IO, 0);
      }),
      { numRuns: 200 },
    );
  });
});

Deno.test("memalloc_*_save/restore scopes nest and restore only what they set", async (t) => {
  await t.step("NOFS inside NOIO: the inner restore leaves NOIO in force", () => {
    const seen = inTask((env) => {
      const out: number[] = [];
      const io = memallocNoioSave(env);
      const fs = memallocNofsSave(env);
      out.push(currentGfpContext(env, GFP_KERNEL));
      memallocNofsRestore(env, fs);
      out.push(currentGfpContext(env, GFP_KERNEL));
      memallocNoioRestore(env, io);
      out.push(currentGfpContext(env, GFP_KERNEL));
      return out;
    });
    assert.deepEqual(seen, [GFP_NOIO, GFP_NOIO, GFP_KERNEL]);
  });
  await t.step("a task that already had PF_MEMALLOC keeps it after noreclaim restore", () => {
    const after = inTask((env) => {
      const s = memallocNoreclaimSave(env);
      memallocNoreclaimRestore(env, s);
      return env.current!.hasFlag(TaskFlag.MEMALLOC);
    }, TaskFlag.MEMALLOC);
    assert.equal(after, true);
    const plain = inTask((env) => {
      const s = memallocNoreclaimSave(env);
      const inside = env.current!.hasFlag(TaskFlag.MEMALLOC);
      memallocNoreclaimRestore(env, s);
      return [inside, env.current!.hasFlag(TaskFlag.MEMALLOC)];
    });
    assert.deepEqual(plain, [true, false]);
  });
  await t.step("a scope needs a running task", () => {
    assert.throws(() => memallocNofsSave(new Engine()), /memalloc_flags_save: no current task/);
  });
  await t.step("scope bits do not collide with the engine's task flags", () => {
    const engineBits = Object.values(TaskFlag).reduce((a, b) => a | b, 0);
    assert.equal(engineBits & (PF_MEMALLOC_NOFS | PF_MEMALLOC_NOIO | PF_MEMALLOC_PIN), 0);
  });
});
