/**
 * `deno task docs:sync` (`--check` in the tests): keeps the TypeScript in README.md and docs/*.md
 * runnable. Every ```ts block is one of three kinds:
 *
 * - **included**: the last non-blank line before its fence is `<!-- example: examples/NAME.ts -->` and its text
 *   is that file's, byte for byte (`docs:sync` copies the files in; `--check` fails on a
 *   difference). The files are type-checked by `deno task check` and run by tests/docs_test.ts.
 * - **run elsewhere**: the fence is ```ts ignore and the last non-blank line before it is
 *   `<!-- run by tests/NAME_test.ts -->`, a test that extracts the block and runs it (the URL
 *   import needs a server, so `deno check --doc-only` cannot resolve it).
 * - **checked**: anything else; `deno check --doc-only` type-checks it as a module (its imports are
 *   relative to the markdown file), so a stale name or signature fails CI.
 *
 * @module
 */
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

/** One ```ts block of a markdown file. */
export interface DocBlock {
  /** The markdown file, relative to the repository. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** 0-based index of the closing fence's line. */
  end: number;
  /** What follows the backticks: `ts`, `ts ignore`, ... */
  info: string;
  /** The block's text (lines between the fences, with a final newline). */
  text: string;
  /** `examples/...` for an included block. */
  example?: string;
  /** `tests/..._test.ts` for a block run by a test. */
  runBy?: string;
}

/** The markdown files whose TypeScript is kept runnable. */
export async function docFiles(): Promise<string[]> {
  const out = ["README.md"];
  for await (const e of Deno.readDir(join(ROOT, "docs"))) {
    if (e.isFile && e.name.endsWith(".md")) out.push(`docs/${e.name}`);
  }
  return out.sort();
}

/** Every ```ts (or ```typescript) block of one markdown text. */
export function tsBlocks(file: string, markdown: string): DocBlock[] {
  const lines = markdown.split("\n"), blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i]!);
    if (!open) continue;
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j]!)) j++;
    if (open[1] === "ts" || open[1] === "typescript") {
      let k = i - 1; // the marker line (deno fmt puts a blank line after an HTML comment)
      while (k >= 0 && lines[k]!.trim() === "") k--;
      const prev = lines[k] ?? "";
      blocks.push({
        file,
        line: i + 1,
        end: j,
        info: (open[1] + open[2]).trim(),
        text: lines.slice(i + 1, j).map((l) => l + "\n").join(""),
        example: /^<!-- example: (\S+) -->$/.exec(prev)?.[1],
        runBy: /^<!-- run by (\S+) -->$/.exec(prev)?.[1],
      });
    }
    i = j;
  }
  return blocks;
}

/** Problems with the blocks of every doc file (empty when all is well); with `write`, syncs. */
export async function checkDocs(write = false): Promise<string[]> {
  const problems: string[] = [];
  for (const file of await docFiles()) {
    const path = join(ROOT, file);
    const md = await Deno.readTextFile(path);
    const lines = md.split("\n");
    // from the last block up, so a replacement never moves the lines of the blocks still to do
    for (const b of tsBlocks(file, md).reverse()) {
      const at = `${file}:${b.line}`;
      if (b.example) {
        const src = await Deno.readTextFile(join(ROOT, b.example)).catch(() => null);
        if (src === null) problems.push(`${at}: ${b.example} does not exist`);
        else if (src !== b.text) {
          if (write) lines.splice(b.line, b.end - b.line, ...src.replace(/\n$/, "").split("\n"));
          else problems.push(`${at}: differs from ${b.example} (run deno task docs:sync)`);
        }
      } else if (b.runBy) {
        if (!b.info.includes("ignore")) {
          problems.push(`${at}: a block run by a test must be \`\`\`ts ignore`);
        }
        const test = await Deno.readTextFile(join(ROOT, b.runBy)).catch(() => "");
        if (!test.includes(`"${file}"`)) {
          problems.push(`${at}: ${b.runBy} does not read ${file}`);
        }
      } else if (b.info.includes("ignore")) {
        problems.push(`${at}: an ignored block needs <!-- run by tests/..._test.ts --> before it`);
      }
    }
    if (write && lines.join("\n") !== md) await Deno.writeTextFile(path, lines.join("\n"));
  }
  return problems;
}

if (import.meta.main) {
  const write = !Deno.args.includes("--check");
  const problems = await checkDocs(write);
  for (const p of problems) console.error(p);
  if (problems.length) Deno.exit(1);
  console.log(write ? "docs synced with examples/" : "docs match examples/");
}
