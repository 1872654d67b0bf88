// Headless Chromium for tests that check rendered HTML (Debian's chromium-headless-shell).
import { join } from "node:path";

async function executable(): Promise<string> {
  for (const exe of ["chromium-headless-shell", "chromium", "chromium-browser"]) {
    for (const dir of ["/usr/bin", "/usr/local/bin"]) {
      try {
        await Deno.stat(join(dir, exe));
        return join(dir, exe);
      } catch { /* next */ }
    }
  }
  throw new Error(
    "headless Chromium not found: install Debian's chromium-headless-shell (apt-get install chromium-headless-shell); .ci/run does",
  );
}

/**
 * Loads a page in headless Chromium, runs its scripts and returns the resulting DOM.
 * @param url a file:// URL
 * @returns the serialised DOM
 */
export async function chromium(url: string): Promise<string> {
  const out = await new Deno.Command(await executable(), {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      `--user-data-dir=${await Deno.makeTempDir({ prefix: "baton_chromium_" })}`,
      "--dump-dom",
      url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(
      `chromium exited ${out.code}: ${new TextDecoder().decode(out.stderr).slice(-500)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}
