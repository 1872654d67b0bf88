/**
 * A throw-away redis-server on loopback for tests, benchmarks and a one-machine try of
 * distributed rollouts: started on a free 127.0.0.1 port with no persistence, stopped (and
 * restartable on the same port) by its owner. Needs Debian's `redis-server` on PATH.
 *
 * @module
 */
import { join } from "node:path";

/**
 * Whether `redis-server` is installed in a standard place.
 * @returns true when found
 */
export function hasRedisServer(): boolean {
  for (const dir of ["/usr/bin", "/usr/local/bin", "/usr/sbin"]) {
    try {
      Deno.statSync(join(dir, "redis-server"));
      return true;
    } catch { /* next */ }
  }
  return false;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function ping(port: number, password?: string, caCert?: string): Promise<boolean> {
  try {
    const c = caCert
      ? await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [caCert] })
      : await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const cmd = (password ? `AUTH ${password}\r\n` : "") + "PING\r\n";
      await c.write(new TextEncoder().encode(cmd));
      const buf = new Uint8Array(256);
      let text = "";
      const until = performance.now() + 1000;
      while (!text.includes("PONG") && performance.now() < until) {
        const n = await c.read(buf);
        if (!n) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      return text.includes("PONG");
    } finally {
      c.close();
    }
  } catch {
    return false;
  }
}

/** PEM files of a TLS-only server: its certificate and key, and the CA that signed it. */
export interface ServerTls {
  /** Server certificate (PEM file). */
  readonly cert: string;
  /** Its private key (PEM file). */
  readonly key: string;
  /** The CA certificate (PEM file). */
  readonly ca: string;
}

/** One redis-server child process on 127.0.0.1. */
export class RedisServer {
  #child: Deno.ChildProcess | null = null;
  private constructor(
    readonly port: number,
    readonly args: string[],
    readonly password?: string,
    readonly tls?: ServerTls,
  ) {}

  /**
   * Starts one and waits until it answers PING.
   * @param opts a password (requirepass), TLS only (no plain port), extra arguments
   * @returns the running server
   */
  static async start(
    opts: { password?: string; tls?: ServerTls; args?: string[] } = {},
  ): Promise<RedisServer> {
    const s = new RedisServer(freePort(), opts.args ?? [], opts.password, opts.tls);
    await s.restart();
    return s;
  }

  /** `redis://127.0.0.1:port` (`rediss://` with TLS; without the password). */
  get url(): string {
    return `${this.tls ? "rediss" : "redis"}://127.0.0.1:${this.port}`;
  }

  /** Starts the server again on the same port (empty: no persistence). */
  async restart(): Promise<void> {
    await this.stop();
    this.#child = new Deno.Command("redis-server", {
      args: [
        ...(this.tls
          ? [
            "--port",
            "0",
            "--tls-port",
            String(this.port),
            "--tls-cert-file",
            this.tls.cert,
            "--tls-key-file",
            this.tls.key,
            "--tls-ca-cert-file",
            this.tls.ca,
            "--tls-auth-clients",
            "no",
          ]
          : ["--port", String(this.port)]),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        ...(this.password ? ["--requirepass", this.password] : []),
        ...this.args,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const until = performance.now() + 10_000;
    const ca = this.tls ? await Deno.readTextFile(this.tls.ca) : undefined;
    while (!(await ping(this.port, this.password, ca))) {
      if (performance.now() > until) throw new Error(`redis-server on ${this.port} did not start`);
      await new Promise((ok) => setTimeout(ok, 50));
    }
  }

  /** Kills the server (SIGKILL: no goodbye to clients) and waits for it to go. */
  async stop(): Promise<void> {
    if (!this.#child) return;
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#child.status;
    this.#child = null;
  }
}
