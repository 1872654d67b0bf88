/**
 * Config files for `--config`: JSON, or YAML 1.2 (read by the npm package `yaml`: anchors,
 * aliases, block scalars, flow values such as `payoff: [[1, 0], [0, 1]]`); a syntax error or a
 * duplicate key is refused with the file, line and column. Keys are the run config's (`core/config.ts`); a run's own
 * `config.json` loads too, without its record of where it ran.
 *
 * @module
 */
import { parse as parseYamlText, YAMLError } from "npm:yaml@2.9.1";
import { trainConfig } from "./config.ts";

/** A parse error with the file and line. */
export class ConfigFileError extends Error {}

/**
 * Parses a YAML 1.2 file with the maintained `yaml` package (anchors, aliases, block scalars,
 * flow values, comments, all of it). One document only; duplicate keys, an alias bomb (more than
 * 100 alias expansions) and any syntax error are refused with the file, line and column.
 * @param text the file's text
 * @param path the file (for messages)
 * @returns the value
 */
export function parseYaml(text: string, path: string): unknown {
  try {
    return parseYamlText(text, {
      version: "1.2",
      uniqueKeys: true,
      maxAliasCount: 100,
      merge: true,
    });
  } catch (err) {
    if (err instanceof YAMLError) {
      const at = err.linePos?.[0];
      const where = at ? `${path}:${at.line}:${at.col}` : path;
      // the package's message ends with a picture of the line; the first line says what is wrong
      throw new ConfigFileError(
        `${where}: ${err.message.split("\n")[0]!.replace(/ at line.*$/, "")}`,
      );
    }
    throw new ConfigFileError(`${path}: ${(err as Error).message.split("\n")[0]}`);
  }
}

/** Keys a run's `config.json` holds besides the config: where and how it ran. */
const RUN_RECORD = ["meta", "backendUsed"];

/**
 * Reads a `--config` file (JSON, or YAML by extension `.yaml`/`.yml`) and checks it against the
 * run config's keys and types. A run's own `config.json` is accepted: its `meta`, `backendUsed`
 * and `out` are dropped (a new run gets a new directory).
 * @param path the file
 * @returns the config fields the file sets
 */
export async function loadConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigFileError(`Cannot read --config ${path}: ${(err as Error).message}`);
  }
  let v: unknown;
  if (/\.ya?ml$/i.test(path)) v = parseYaml(text, path);
  else {
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw new ConfigFileError(
        `--config ${path} is not valid JSON (${
          (err as Error).message
        }); YAML files need a .yaml or .yml name`,
      );
    }
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) {
    throw new ConfigFileError(`--config ${path} must hold a mapping of config keys to values`);
  }
  const rec = { ...(v as Record<string, unknown>) };
  const fromRun = "meta" in rec;
  for (const k of RUN_RECORD) delete rec[k];
  if (fromRun) delete rec.out;
  const r = trainConfig.partial().safeParse(rec);
  if (!r.success) {
    const issues = r.error.issues.map((x) =>
      x.code === "unrecognized_keys"
        ? `unknown key${x.keys.length > 1 ? "s" : ""} ${x.keys.join(", ")}`
        : `${x.path.join(".") || "(top)"}: ${x.message}`
    );
    throw new ConfigFileError(
      `Invalid --config ${path}: ${
        issues.join("; ")
      } (keys are the flags' names in camelCase, see --help)`,
    );
  }
  return rec;
}

/**
 * Parses `--seeds`: `0-4` (a range, both ends included) or `0,3,7`.
 * @param s the flag's value
 * @returns the seeds, in order, without repeats
 */
export function parseSeeds(s: string): number[] {
  const out: number[] = [];
  for (const part of s.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`Invalid --seeds "${s}": use a range like 0-4 or a list like 0,3,7`);
    const a = Number(m[1]), b = m[2] !== undefined ? Number(m[2]) : a;
    if (b < a || b - a > 10_000) {
      throw new Error(`Invalid --seeds "${s}": ${part} is not a range from low to high`);
    }
    for (let k = a; k <= b; k++) if (!out.includes(k)) out.push(k);
  }
  if (!out.length) throw new Error(`Invalid --seeds "${s}": no seed given`);
  return out;
}
