// The WebGPU checks (tests/_webgpu_checks.ts) run in a child `deno test`, so that only that
// process loads the system's GPU driver (Mesa's llvmpipe here, found through navigator.gpu).
// On this project's machines a process that loaded it has aborted once in its exit handlers, after
// every test had passed ("corrupted size vs. prev_size in fastbins"), which failed the whole
// suite. Here the child's own verdict decides: every check must pass (or all be ignored because
// there is no adapter); an abort after its summary line is reported, not counted as a failure.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

Deno.test("webgpu agrees with wasm, keeps memory flat and sums with addAll (child process)", async () => {
  const checks = fileURLToPath(new URL("./_webgpu_checks.ts", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-P", checks],
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const summary = stdout.split("\n").find((l) => /^(ok|FAILED) \| \d+ passed/.test(l));
  const tail = `\n--- child stdout ---\n${stdout.slice(-3000)}\n--- child stderr ---\n${
    stderr.slice(-2000)
  }`;
  assert.ok(summary, `the WebGPU checks printed no summary (exit ${out.code})${tail}`);
  const [passed, failed, ignored] = ["passed", "failed", "ignored"].map((k) =>
    Number(summary.match(new RegExp(`(\\d+) ${k}`))?.[1] ?? 0)
  );
  assert.equal(failed, 0, `WebGPU checks failed: ${summary}${tail}`);
  assert.equal(passed + ignored, 4, `expected 4 WebGPU checks: ${summary}${tail}`);
  if (ignored) console.error("webgpu_test: no WebGPU adapter in this Deno, checks ignored");
  if (!out.success) {
    console.error(
      `webgpu_test: every check passed, then the child exited with ${
        out.signal ?? out.code
      } after its summary (the GPU driver's exit handlers)`,
    );
  }
});
