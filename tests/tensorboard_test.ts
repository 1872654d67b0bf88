// TensorBoard event files (core/tensorboard.ts), read back with a reader written here from the
// published specs alone: TFRecord framing (uint64 length, masked CRC-32C of the length, data,
// masked CRC-32C of the data) and the field numbers of event.proto / summary.proto. The CRC here
// is the bitwise definition (no table), so a wrong table or mask in the writer shows.
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadCheckpoint, train } from "../mod.ts";
import { entries, smallConfig } from "./_helpers.ts";

function crc32cBitwise(b: Uint8Array): number {
  let c = ~0 >>> 0;
  for (const byte of b) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1));
  }
  return ~c >>> 0;
}
const mask = (c: number) => (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;

interface Field {
  no: number;
  wire: number;
  int?: bigint;
  bytes?: Uint8Array;
  f64?: number;
  f32?: number;
}

function fields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = 0;
  const varint = () => {
    let x = 0n, s = 0n;
    for (;;) {
      const byte = b[i++]!;
      x |= BigInt(byte & 0x7f) << s;
      if (!(byte & 0x80)) return x;
      s += 7n;
    }
  };
  while (i < b.length) {
    const key = Number(varint());
    const f: Field = { no: key >> 3, wire: key & 7 };
    if (f.wire === 0) f.int = varint();
    else if (f.wire === 1) (f.f64 = v.getFloat64(i, true)), (i += 8);
    else if (f.wire === 5) (f.f32 = v.getFloat32(i, true)), (i += 4);
    else if (f.wire === 2) {
      const n = Number(varint());
      f.bytes = b.subarray(i, i + n);
      i += n;
    } else throw new Error(`wire type ${f.wire}`);
    out.push(f);
  }
  return out;
}

function records(file: Uint8Array): Uint8Array[] {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < file.length) {
    const len = Number(v.getBigUint64(i, true));
    assert.equal(
      v.getUint32(i + 8, true),
      mask(crc32cBitwise(file.subarray(i, i + 8))),
      "length CRC",
    );
    const data = file.subarray(i + 12, i + 12 + len);
    assert.equal(v.getUint32(i + 12 + len, true), mask(crc32cBitwise(data)), "data CRC");
    out.push(data);
    i += 12 + len + 4;
  }
  assert.equal(i, file.length, "no trailing bytes");
  return out;
}

Deno.test("--log tensorboard writes every metric as a scalar event, readable by an independent decoder", async () => {
  const cfg = await smallConfig({
    env: "matrix/climbing",
    algo: "bppo",
    log: "tensorboard",
    numEnvs: 8,
    rolloutLength: 25,
    totalSteps: 600,
    algoOptions: { epochs: 2 },
  });
  await train(cfg, entries(cfg));
  const names = [...Deno.readDirSync(cfg.out!)].map((e) => e.name)
    .filter((n) => n.startsWith("events.out.tfevents."));
  assert.equal(names.length, 1, "one event file per run");
  const recs = records(await Deno.readFile(join(cfg.out!, names[0]!)));
  const rows = (await Deno.readTextFile(join(cfg.out!, "metrics.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l) as Record<string, number | null>);
  assert.equal(recs.length, 1 + rows.length, "a version event, then one event per iteration");
  const first = fields(recs[0]!);
  assert.equal(
    new TextDecoder().decode(first.find((f) => f.no === 3)!.bytes!),
    "brain.Event:2",
  );
  rows.forEach((row, k) => {
    const ev = fields(recs[k + 1]!);
    assert.ok(ev.find((f) => f.no === 1)!.f64! > 1.6e9, "wall_time in seconds");
    assert.equal(Number(ev.find((f) => f.no === 2)!.int!), row.env_steps, "step = env steps");
    const summary = fields(ev.find((f) => f.no === 5)!.bytes!);
    const scalars = new Map(
      summary.filter((f) => f.no === 1).map((f) => {
        const val = fields(f.bytes!);
        return [
          new TextDecoder().decode(val.find((x) => x.no === 1)!.bytes!),
          val.find((x) => x.no === 2)!.f32!,
        ];
      }),
    );
    for (const [key, v] of Object.entries(row)) {
      if (key === "iteration" || key === "env_steps" || v === null) continue;
      assert.ok(scalars.has(key), `${key} at iteration ${k + 1}`);
      assert.equal(scalars.get(key), Math.fround(v), key);
    }
    assert.ok(scalars.has("losses/policy") && scalars.has("bppo/grad_peer_over_own"));
  });
  // a resumed run appends to the same file: still one file, one version event, more steps
  await train(
    { ...cfg, totalSteps: 1000 },
    { ...entries(cfg), resume: await loadCheckpoint(cfg.out!) },
  );
  const after = [...Deno.readDirSync(cfg.out!)].filter((e) => e.name.startsWith("events.out."));
  assert.equal(after.length, 1, "one event file per run, also after a resume");
  const again = records(await Deno.readFile(join(cfg.out!, names[0]!)));
  assert.equal(again.length, 1 + 5, "no second version event; iterations 4 and 5 appended");
  assert.equal(Number(fields(again[5]!).find((f) => f.no === 2)!.int!), 1000);
  await Deno.remove(cfg.out!, { recursive: true });
});
