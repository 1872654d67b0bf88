// Several hosts on one machine: the learner and Redis in one network namespace, a worker in
// another, joined by a veth pair (root only; ignored with the reason otherwise). Also checks
// that nothing listens but the Redis the user configured: the worker's namespace has no
// listening socket at all, the learner's only Redis's.
import assert from "node:assert/strict";
import { join } from "node:path";
import { REDIS } from "./_redis.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TAG = `b${Deno.pid % 100000}`;
const NS = { learner: `${TAG}l`, worker: `${TAG}w` };
const PASSWORD = `pw-${crypto.randomUUID()}`;
const NET = `10.${77 + (Deno.pid % 100)}.${Deno.pid % 250}`;

function sh(args: string[]): { code: number; out: string } {
  try {
    const o = new Deno.Command(args[0]!, { args: args.slice(1), stdout: "piped", stderr: "piped" })
      .outputSync();
    return {
      code: o.code,
      out: new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr),
    };
  } catch (err) {
    return { code: -1, out: (err as Error).message };
  }
}

/** Why the test cannot run here, or null. */
const why: string | null = (() => {
  if (!REDIS) return "redis-server is not installed";
  if (sh(["id", "-u"]).out.trim() !== "0") {
    return "not root (network namespaces need CAP_SYS_ADMIN)";
  }
  const probe = `${TAG}p`;
  const r = sh(["ip", "netns", "add", probe]);
  if (r.code !== 0) return `ip netns add failed: ${r.out.trim().split("\n")[0]}`;
  // a veth pair too: some containers allow namespaces but not new links
  const v = sh([
    "ip",
    "-n",
    probe,
    "link",
    "add",
    `${TAG}x`,
    "type",
    "veth",
    "peer",
    "name",
    `${TAG}y`,
  ]);
  sh(["ip", "netns", "del", probe]);
  if (v.code !== 0) return `ip link add (veth) failed: ${v.out.trim().split("\n")[0]}`;
  return null;
})();
if (why) console.error(`ignoring the network-namespace test: ${why}`);

function setup(): void {
  const steps = [
    ["ip", "netns", "add", NS.learner],
    ["ip", "netns", "add", NS.worker],
    ["ip", "link", "add", `${TAG}a`, "type", "veth", "peer", "name", `${TAG}b`],
    ["ip", "link", "set", `${TAG}a`, "netns", NS.learner],
    ["ip", "link", "set", `${TAG}b`, "netns", NS.worker],
    ["ip", "-n", NS.learner, "addr", "add", `${NET}.1/24`, "dev", `${TAG}a`],
    ["ip", "-n", NS.worker, "addr", "add", `${NET}.2/24`, "dev", `${TAG}b`],
    ["ip", "-n", NS.learner, "link", "set", `${TAG}a`, "up"],
    ["ip", "-n", NS.worker, "link", "set", `${TAG}b`, "up"],
    ["ip", "-n", NS.learner, "link", "set", "lo", "up"],
    ["ip", "-n", NS.worker, "link", "set", "lo", "up"],
  ];
  for (const s of steps) {
    const r = sh(s);
    if (r.code !== 0) throw new Error(`${s.join(" ")}: ${r.out}`);
  }
}

function teardown(): void {
  sh(["ip", "netns", "del", NS.learner]); // deleting a namespace deletes its end of the veth
  sh(["ip", "netns", "del", NS.worker]);
}

function inNs(ns: string, args: string[], piped = true): Deno.ChildProcess {
  return new Deno.Command("ip", {
    args: ["netns", "exec", ns, ...args],
    cwd: ROOT,
    env: {
      NO_COLOR: "1",
      RUST_BACKTRACE: "0",
      BATON_REDIS_PASSWORD: PASSWORD,
      BATON_ROLLOUT_SECRET: "netns-test-secret-0123",
    },
    stdout: piped ? "piped" : "null",
    stderr: piped ? "piped" : "null",
  }).spawn();
}

Deno.test({
  name: "learner and Redis in one network namespace, a worker in another (veth)",
  ignore: why !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    setup();
    const out = await Deno.makeTempDir({ prefix: "baton_netns_" });
    const url = `redis://${NET}.1:6379`;
    const redis = inNs(NS.learner, [
      "redis-server",
      "--bind",
      `${NET}.1`,
      "--port",
      "6379",
      "--save",
      "",
      "--appendonly",
      "no",
      "--requirepass",
      PASSWORD, // off loopback Redis serves only clients that authenticate (protected mode)
    ], false);
    const worker = inNs(NS.worker, [
      Deno.execPath(),
      "run",
      "-A",
      "worker.ts",
      "--redis",
      url,
      "--id",
      "remote",
      "--idle-exit",
      "30",
    ]);
    const workerLog = new Response(worker.stderr).text();
    try {
      // the worker's host: no listening socket at all
      await new Promise((ok) => setTimeout(ok, 1500));
      const listenW = sh(["ip", "netns", "exec", NS.worker, "ss", "-ltnH"]).out.trim();
      assert.equal(listenW, "", `the worker's namespace listens: ${listenW}`);
      const learner = await inNs(NS.learner, [
        Deno.execPath(),
        "run",
        "-A",
        "train.ts",
        "--env",
        "matrix/climbing",
        "--algo",
        "mappo",
        "--num-envs",
        "8",
        "--rollout-length",
        "20",
        "--total-steps",
        "640",
        "--eval-episodes",
        "10",
        "--threads",
        "1",
        "--quiet",
        "--out",
        join(out, "run"),
        "--rollout",
        url,
      ]).output();
      const err = new TextDecoder().decode(learner.stderr);
      assert.equal(learner.code, 0, err);
      const s = JSON.parse(await Deno.readTextFile(join(out, "run", "summary.json")));
      assert.equal(s.env_steps, 640);
      // the learner's host: only the Redis the user configured listens
      const listenL = sh(["ip", "netns", "exec", NS.learner, "ss", "-ltnH"]).out.trim().split("\n")
        .map((l) => l.trim().split(/\s+/)[3]);
      assert.deepEqual(listenL, [`${NET}.1:6379`]);
    } finally {
      try {
        worker.kill("SIGTERM");
      } catch { /* gone */ }
      await worker.status;
      try {
        redis.kill("SIGKILL");
      } catch { /* gone */ }
      await redis.status;
      teardown();
    }
    assert.match(await workerLog, /remote\] done: 4 chunks sent/);
  },
});
