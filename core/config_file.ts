/**
 * Config files for `--config`: JSON, or the YAML a config needs (block mappings, block lists,
 * scalars, comments, and JSON-style flow values such as `payoff: [[1, 0], [0, 1]]`). Anything
 * else in a YAML file (anchors, multi-line strings, tags, several documents) is refused with the
 * line number, rather than read wrongly. Keys are the run config's (`core/config.ts`); a run's own
 * `config.json` loads too, without its record of where it ran.
 *
 * @module
 */
import { trainConfig } from "./config.ts";

/** A parse error with the file and line. */
export class ConfigFileError extends Error {}

function scalar(raw: string, where: string): unknown {
  const s = raw.trim();
  if (s === "" || s === "~" || s === "null") return null;
  if (s === "true") return true;
  if (s === "false") return false;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return Number(s);
  if (/^["[{]/.test(s)) {
    try {
      return JSON.parse(s);
    } catch {
      if (s.startsWith("'")) return s.slice(1, -1);
      throw new ConfigFileError(`${where}: ${s} looks like JSON but does not parse`);
    }
  }
  if (s.startsWith("'") && s.endsWith("'") && s.length >= 2) {
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (/^[&*!|>%@`]/.test(s)) {
    throw new ConfigFileError(`${where}: anchors, tags and block scalars are not supported`);
  }
  return s;
}

/** Strips a `#` comment that is not inside quotes or brackets. */
function stripComment(line: string): string {
  let q: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === q) q = null;
    } else if (c === '"' || c === "'") q = c;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

/**
 * Parses the YAML subset described in the module doc.
 * @param text the file's text
 * @param path the file (for messages)
 * @returns the value
 */
export function parseYamlSubset(text: string, path: string): unknown {
  const lines = text.split(/\r?\n/).map((l, i) => ({ no: i + 1, text: stripComment(l) }))
    .filter((l) => l.text.trim() !== "" && l.text.trim() !== "---");
  for (const l of lines) {
    if (/^\s*\t/.test(l.text)) {
      throw new ConfigFileError(`${path}:${l.no}: tabs are not allowed for indentation`);
    }
  }
  let i = 0;
  const indent = (t: string) => t.length - t.trimStart().length;
  const block = (level: number): unknown => {
    const first = lines[i]!;
    const isList = first.text.trimStart().startsWith("- ") || first.text.trim() === "-";
    if (isList) {
      const out: unknown[] = [];
      while (i < lines.length && indent(lines[i]!.text) === level) {
        const t = lines[i]!.text.trimStart();
        if (!t.startsWith("-")) break;
        const rest = t.slice(1).trim();
        const where = `${path}:${lines[i]!.no}`;
        i++;
        if (rest === "") {
          out.push(
            i < lines.length && indent(lines[i]!.text) > level
              ? block(indent(lines[i]!.text))
              : null,
          );
        } else if (/^[\w.-]+\s*:(\s|$)/.test(rest)) {
          throw new ConfigFileError(`${where}: mappings inside lists are not supported`);
        } else out.push(scalar(rest, where));
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    while (i < lines.length && indent(lines[i]!.text) === level) {
      const t = lines[i]!.text.trim();
      const where = `${path}:${lines[i]!.no}`;
      const m = /^("[^"]*"|'[^']*'|[^:]+?)\s*:(\s+(.*))?$/.exec(t);
      if (!m) throw new ConfigFileError(`${where}: expected "key: value"`);
      const key = m[1]!.replace(/^["']|["']$/g, "");
      if (key in out) throw new ConfigFileError(`${where}: key ${key} appears twice`);
      i++;
      if (m[3] !== undefined && m[3].trim() !== "") out[key] = scalar(m[3], where);
      else if (i < lines.length && indent(lines[i]!.text) > level) {
        out[key] = block(indent(lines[i]!.text));
      } else out[key] = null;
    }
    return out;
  };
  if (!lines.length) return {};
  const v = block(indent(lines[0]!.text));
  if (i < lines.length) {
    throw new ConfigFileError(
      `${path}:${lines[i]!.no}: indentation does not match the lines above`,
    );
  }
  return v;
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
  if (/\.ya?ml$/i.test(path)) v = parseYamlSubset(text, path);
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
