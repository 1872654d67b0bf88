/**
 * Animated GIFs of replay pages, for papers and slides: every replay page opens paused at step N
 * with `#frame=N`, so headless Chromium (Debian's `chromium-headless-shell`) screenshots each
 * step, `npm:fast-png` decodes the screenshots and `npm:gifenc` quantises them to 256 colours and
 * writes the GIF. Maintained packages do the image formats; this module only drives them.
 *
 * @module
 */
import { join } from "node:path";
import { toFileUrl } from "../plugins/_url.ts";
import { decode as decodePng } from "npm:fast-png@8.0.0";
import gifenc from "npm:gifenc@1.0.3"; // a CommonJS package: its functions hang off the default

const { applyPalette, GIFEncoder, quantize } = gifenc as {
  applyPalette: (rgba: Uint8Array, palette: number[][]) => Uint8Array;
  GIFEncoder: () => {
    writeFrame(
      index: Uint8Array,
      w: number,
      h: number,
      o: { palette: number[][]; delay: number },
    ): void;
    finish(): void;
    bytes(): Uint8Array;
  };
  quantize: (rgba: Uint8Array, colours: number) => number[][];
};

/** The headless Chromium to screenshot with, or an error naming the package to install. */
export async function chromiumPath(): Promise<string> {
  for (const exe of ["chromium-headless-shell", "chromium", "chromium-browser"]) {
    for (const dir of ["/usr/bin", "/usr/local/bin"]) {
      const p = join(dir, exe);
      if (await Deno.stat(p).then(() => true, () => false)) return p;
    }
  }
  throw new Error(
    "a GIF needs a headless Chromium to draw the frames: sudo apt-get install chromium-headless-shell",
  );
}

/**
 * Screenshots `frames` steps of a replay page and writes them as an animated GIF.
 * @param page the replay HTML file
 * @param out the GIF file to write
 * @param opts steps to draw, the size in pixels, milliseconds per step, parallel browsers
 * @returns the GIF's byte length
 */
export async function replayGif(
  page: string,
  out: string,
  opts: { frames: number; width: number; height: number; delayMs: number; parallel?: number },
): Promise<number> {
  const exe = await chromiumPath();
  const tmp = await Deno.makeTempDir({ prefix: "baton_gif_" });
  try {
    const url = toFileUrl(page);
    const shots: Uint8Array[] = new Array(opts.frames);
    let next = 0;
    const worker = async () => {
      for (let k = next++; k < opts.frames; k = next++) {
        const png = join(tmp, `f${k}.png`);
        const r = await new Deno.Command(exe, {
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            `--window-size=${opts.width},${opts.height}`,
            `--user-data-dir=${join(tmp, `profile${k}`)}`,
            `--screenshot=${png}`,
            `${url}#frame=${k}`,
          ],
          stdout: "null",
          stderr: "piped",
        }).output();
        if (r.code !== 0) {
          throw new Error(
            `chromium failed on frame ${k} (exit ${r.code}): ${
              new TextDecoder().decode(r.stderr).trim().split("\n").pop()
            }`,
          );
        }
        shots[k] = await Deno.readFile(png);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.parallel ?? 2) }, worker));
    const gif = GIFEncoder();
    for (const bytes of shots) {
      const img = decodePng(bytes);
      const rgba = toRgba(img.data, img.width * img.height, img.channels);
      const palette = quantize(rgba, 256);
      gif.writeFrame(applyPalette(rgba, palette), img.width, img.height, {
        palette,
        delay: opts.delayMs,
      });
    }
    gif.finish();
    const data = gif.bytes();
    await Deno.writeFile(out, data);
    return data.length;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** RGBA bytes of a decoded PNG (Chromium writes RGB or RGBA, 8 bits). */
function toRgba(data: ArrayLike<number>, pixels: number, channels: number): Uint8Array {
  if (channels === 4) return Uint8Array.from(data as ArrayLike<number>);
  const out = new Uint8Array(pixels * 4);
  for (let p = 0; p < pixels; p++) {
    out[4 * p] = data[channels * p]!;
    out[4 * p + 1] = data[channels * p + 1]!;
    out[4 * p + 2] = data[channels * p + 2]!;
    out[4 * p + 3] = 255;
  }
  return out;
}
