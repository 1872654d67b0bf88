// mod.ts and everything it imports must work when imported over HTTP: a remote module sees no
// local import map, so Baton uses fully specified npm: specifiers and relative imports only.
import assert from "node:assert/strict";
import { extname, join, normalize } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

/** A tiny static file server for the repository on 127.0.0.1 (random port). */
function serveRepo(
  contentType = "application/typescript",
): { port: number; server: Deno.HttpServer; hits: string[] } {
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = normalize(decodeURIComponent(new URL(req.url).pathname));
    if (path.includes("..") || path.includes("node_modules")) {
      return new Response("no", { status: 403 });
    }
    hits.push(path);
    try {
      const body = await Deno.readFile(join(ROOT, path));
      const type = extname(path) === ".ts" ? contentType : "application/octet-stream";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return { port: (server.addr as Deno.NetAddr).port, server, hits };
}

Deno.test("a script imports Baton from an http URL, builds an env and trains", async () => {
  const { port, server, hits } = serveRepo();
  const dir = await Deno.makeTempDir({ prefix: "baton_url_" });
  try {
    const base = `http://127.0.0.1:${port}`;
    const script = (await Deno.readTextFile(join(ROOT, "examples/quickstart.ts")))
      .replace(`from "baton/mod.ts"`, `from "${base}/mod.ts"`)
      .replace(
        `quiet: true`,
        `quiet: true, numEnvs: 8, rolloutLength: 25, evalEpisodes: 5, out: "run"`,
      );
    await Deno.writeTextFile(join(dir, "main.ts"), script);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--allow-import=127.0.0.1:${port}`,
        "--allow-read",
        `--allow-write=${dir}`,
        "--allow-env",
        "--no-lock",
        "main.ts",
        "400",
      ],
      cwd: dir,
      env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout),
      stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(stdout, /greedy joint action \d,\d: return -?\d+/);
    assert.match(stdout, /optimum 11, 400 env steps/);
    assert.ok(
      hits.includes("/mod.ts") && hits.includes("/algos/bppo.ts"),
      `served: ${hits.length} files`,
    );
    const summary = JSON.parse(await Deno.readTextFile(join(dir, "run", "summary.json")));
    assert.equal(summary.algo, "bppo");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs deno with the args in dir; code and output. */
async function deno(dir: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: dir,
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0", DENO_DIR: join(dir, ".deno") },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

/** The README's "Use from a URL" block, pointed at base. */
async function readmeUrlScript(base: string): Promise<string> {
  const md = await Deno.readTextFile(join(ROOT, "README.md"));
  const block = /<!-- run by tests\/url_import_test.ts -->\n+```ts ignore\n([^]*?)\n```/.exec(md);
  assert.ok(block, "README.md has the URL-import block");
  assert.match(block[1]!, /https:\/\/<host>\/baton\/v0\.2\.0\/mod\.ts/);
  return block[1]!.replace("https://<host>/baton/v0.2.0/", `${base}/`)
    .replace(
      `quiet: true`,
      `quiet: true, totalSteps: 400, numEnvs: 8, rolloutLength: 25, evalEpisodes: 5, out: "run"`,
    );
}

Deno.test("the README's URL-import block passes deno check and trains", async () => {
  const { port, server } = serveRepo();
  const dir = await Deno.makeTempDir({ prefix: "baton_url_readme_" });
  try {
    const base = `http://127.0.0.1:${port}`;
    await Deno.writeTextFile(join(dir, "train_from_url.ts"), await readmeUrlScript(base));
    const allow = `--allow-import=127.0.0.1:${port}`;
    const check = await deno(dir, ["check", allow, "--no-lock", "train_from_url.ts"]);
    assert.equal(check.code, 0, check.out);
    const run = await deno(dir, [
      "run",
      allow,
      "--allow-read",
      `--allow-write=${dir}`,
      "--allow-env",
      "--no-lock",
      "train_from_url.ts",
    ]);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /greedy return -?\d+(\.\d+)?, optimum 11/);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every import inside Baton is relative or a fully specified npm:/node: specifier", async () => {
  const bad: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(join(ROOT, dir))) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory) {
        if (
          !["node_modules", "runs", "reports", "coverage", ".git", "examples", "tests"].includes(
            e.name,
          )
        ) {
          await walk(rel);
        }
      } else if (e.name.endsWith(".ts")) {
        const src = await Deno.readTextFile(join(ROOT, rel));
        for (
          const m of src.matchAll(
            /(?:^|\n)\s*(?:import|export)[^;]*?from\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g,
          )
        ) {
          const spec = m[1] ?? m[2]!;
          if (!/^(\.\.?\/|npm:[^@]*@?[^@]+@\d|npm:@[^/]+\/[^@]+@\d|node:|https?:)/.test(spec)) {
            bad.push(`${rel}: "${spec}"`);
          }
        }
      }
    }
  };
  await walk("");
  assert.deepEqual(bad, [], "bare or unversioned specifiers break a URL import");
});
