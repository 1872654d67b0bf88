// Tests that need a Debian package which may be absent on a fresh machine (only Node and npm):
// they are reported as ignored, with one line naming the package and its install command.
// .ci/run installs both packages and fails when it cannot, so CI always runs every test.
import { join } from "node:path";

function say(pkg: string, what: string): void {
  console.error(
    `ignoring the tests that need ${what}: it is not installed (sudo apt-get install ${pkg})`,
  );
}

function hasNumpy(): boolean {
  try {
    const out = new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import numpy"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.code === 0;
  } catch {
    return false;
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

/** Whether Debian's python3 with numpy is here (the subprocess bridges need it). */
export const NUMPY: boolean = hasNumpy();
/** Whether a headless Chromium is here (the replay tests render pages in it). */
export const CHROMIUM: boolean = hasChromium();

if (!NUMPY) say("python3 python3-numpy", "Python 3 with numpy (/usr/bin/python3)");
if (!CHROMIUM) say("chromium-headless-shell", "a headless Chromium");
