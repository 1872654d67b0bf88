// mod.ts and everything it imports must work when imported over HTTP: a remote module sees no
// local import map, so Baton uses fully specified npm: specifiers and relative imports only.
import assert from "node:assert/strict";
import { extname, join, normalize } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

/** A tiny static file server for the repository on 127.0.0.1 (random port). */
function serveRepo(): { port: number; server: Deno.HttpServer; hits: string[] } {
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = normalize(decodeURIComponent(new URL(req.url).pathname));
    if (path.includes("..") || path.includes("node_modules")) {
      return new Response("no", { status: 403 });
    }
    hits.push(path);
    try {
      const body = await Deno.readFile(join(ROOT, path));
      const type = extname(path) === ".ts" ? "application/typescript" : "application/octet-stream";
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
      .replace(`from "../mod.ts"`, `from "${base}/mod.ts"`)
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
