// Tests that need a Debian package which may be absent on a fresh machine (only Node and npm):
// they are reported as ignored, with one line naming the package and its install command.
// .ci/run installs both packages and fails when it cannot, so CI always runs every test.
import { join } from "node:path";

/**
 * Says once per `deno test` process (each test file runs in its own isolate of that process, so
 * a marker file keyed by the process id stands in for a shared flag).
 */
function say(key: string, line: string): void {
  try {
    Deno.writeTextFileSync(`/tmp/baton_requires_${Deno.pid}_${key}`, "", { createNew: true });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return; // another test file said it
  }
  console.error(`ignoring the tests that need ${line}`);
}

/** "ok", "no python3", or "no numpy". */
function python(): "ok" | "no python3" | "no numpy" {
  try {
    const out = new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import numpy"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.code === 0 ? "ok" : "no numpy";
  } catch {
    return "no python3";
  }
}

function hasChromium(): boolean {
  for (const exe of ["chromium-headless-shell", "chromium", "chromium-browser"]) {
    for (const dir of ["/usr/bin", "/usr/local/bin"]) {
      try {
        Deno.statSync(join(dir, exe));
        return true;
      } catch { /* next */ }
    }
  }
  return false;
}

const PY = python();
/** Whether Debian's python3 with numpy is here (the subprocess bridges need it). */
export const NUMPY: boolean = PY === "ok";
/** Whether a headless Chromium is here (the replay tests render pages in it). */
export const CHROMIUM: boolean = hasChromium();

if (PY === "no python3") {
  say(
    "python",
    "Python 3: /usr/bin/python3 is not installed (sudo apt-get install python3 python3-numpy)",
  );
} else if (PY === "no numpy") {
  say(
    "python",
    "numpy: /usr/bin/python3 is here but cannot import numpy (sudo apt-get install python3-numpy)",
  );
}
if (!CHROMIUM) {
  say(
    "chromium",
    "a headless Chromium: none is installed (sudo apt-get install chromium-headless-shell)",
  );
}
