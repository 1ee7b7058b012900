// Starts the real raccoon binary and reads the real Kafka broker for the
// integration tests. Environment (set by clients/CMakeLists.txt, as
// tests/integration does): RACCOON_BIN, the server binary; RACCOON_KAFKA_DIR,
// the broker's state dir (its host:port in DIR/bootstrap). Every wait is
// bounded; every address is 127.0.0.1.
import { spawn, execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, openSync, closeSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const HOST = "127.0.0.1";

export function env(name) {
  const v = process.env[name];
  if (!v)
    throw new Error(`${name} is not set: run the integration tests through ctest (clients/CMakeLists.txt)`);
  return v;
}

export function bootstrap() {
  return readFileSync(join(env("RACCOON_KAFKA_DIR"), "bootstrap"), "utf8").trim();
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const SETTING_PREFIXES = ["SERVER_", "WORKER_", "EVENT_", "PUBLISHER_", "METRIC_", "LOG_"];

/** One raccoon process on free ports with a unique topic pattern and EVENT_ACK=1. */
export class Server {
  static async start(extra = {}) {
    const s = new Server();
    s.port = await freePort();
    do s.grpcPort = await freePort();
    while (s.grpcPort === s.port);
    s.pattern = `jsclient-${randomBytes(6).toString("hex")}-%s`;
    s.dir = mkdtempSync(join(tmpdir(), "raccoon-js-"));
    s.env = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!SETTING_PREFIXES.some((p) => k.startsWith(p))) s.env[k] = v;
    }
    Object.assign(s.env, {
      SERVER_WEBSOCKET_PORT: String(s.port),
      SERVER_GRPC_PORT: String(s.grpcPort),
      SERVER_BIND_ADDRESS: HOST,
      SERVER_IO_THREADS: "2",
      PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS: bootstrap(),
      EVENT_DISTRIBUTION_PUBLISHER_PATTERN: s.pattern,
      EVENT_ACK: "1",
      WORKER_BUFFER_FLUSH_TIMEOUT_MS: "3000",
      PUBLISHER_KAFKA_FLUSH_INTERVAL_MS: "2000",
      LOG_LEVEL: "info",
      ...extra,
    });
    s.runs = 0;
    await s.run();
    return s;
  }

  async run() {
    this.runs++;
    const err = openSync(join(this.dir, `stderr-${this.runs}`), "w");
    this.proc = spawn(env("RACCOON_BIN"), ["server"], { env: this.env, stdio: ["ignore", "ignore", err] });
    closeSync(err);
    this.exit = new Promise((resolve) => this.proc.once("exit", (code, signal) => resolve(code ?? signal)));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      try {
        const r = await fetch(`${this.httpURL}/ping`, { signal: AbortSignal.timeout(1000) });
        if (r.status === 200) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // Never left running: the caller has no server to stop.
    this.proc.kill("SIGKILL");
    this.proc = null;
    throw new Error(`raccoon did not answer /ping within 20 s:\n${this.stderr()}`);
  }

  /** SIGTERM and a bounded wait; the exit code (-1 if it had to be killed). */
  async stop() {
    if (!this.proc) return 0;
    const proc = this.proc;
    this.proc = null;
    proc.kill("SIGTERM");
    let timer;
    const code = await Promise.race([this.exit, new Promise((r) => (timer = setTimeout(r, 20_000, "hung")))]);
    clearTimeout(timer);
    if (code === "hung") {
      proc.kill("SIGKILL");
      await this.exit;
      return -1;
    }
    return code;
  }

  async restart() {
    const code = await this.stop();
    if (code !== 0) throw new Error(`raccoon exited with ${code} on restart:\n${this.stderr()}`);
    await this.run();
  }

  stderr() {
    let out = "";
    for (let i = 1; i <= this.runs; i++) {
      try {
        out += readFileSync(join(this.dir, `stderr-${i}`), "utf8");
      } catch {
        // none
      }
    }
    return out.slice(-8000);
  }

  get httpURL() {
    return `http://${HOST}:${this.port}`;
  }
  get restURL() {
    return `${this.httpURL}/api/v1/events`;
  }
  get wsURL() {
    return `ws://${HOST}:${this.port}/api/v1/events`;
  }
  get grpcAddress() {
    return `${HOST}:${this.grpcPort}`;
  }
  topic(eventType) {
    return this.pattern.replace("%s", eventType);
  }
}

function kcat(args, timeoutMs) {
  return new Promise((resolve) => {
    execFile(
      "kcat",
      args,
      { encoding: "buffer", timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ err, stdout, stderr: stderr.toString() }),
    );
  });
}

/** kcat's "%S\n%s" output: a decimal size, a newline, that many bytes, per message. */
export function parseSized(out) {
  const msgs = [];
  let i = 0;
  while (i < out.length) {
    const nl = out.indexOf(10, i);
    if (nl < 0) throw new Error("kcat output: a size line without a newline");
    const n = Number(out.subarray(i, nl).toString());
    if (!Number.isInteger(n) || n < 0) throw new Error(`kcat output: size line ${out.subarray(i, nl)}`);
    msgs.push(out.subarray(nl + 1, nl + 1 + n));
    i = nl + 1 + n;
    if (out[i] === 10) i++;
  }
  return msgs;
}

/** Reads a topic from the beginning until it holds at least want messages or the timeout passes. */
export async function readTopic(topic, want, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let got = [];
  let last = "";
  for (;;) {
    const r = await kcat(
      ["-C", "-b", bootstrap(), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%S\n%s\n"],
      15_000,
    );
    if (!r.err) {
      got = parseSized(r.stdout);
      if (got.length >= want) return got;
    } else {
      last = `${r.err.message}: ${r.stderr}`;
    }
    if (Date.now() > deadline) {
      throw new Error(`topic ${topic}: ${got.length} of ${want} messages within ${timeoutMs} ms (${last})`);
    }
    await new Promise((res) => setTimeout(res, 300));
  }
}

/** Fails unless the topic holds every wanted message (byte for byte); exact: and nothing else. */
export async function assertTopicHolds(topic, want, exact) {
  const msgs = await readTopic(topic, want.length);
  const counts = new Map();
  for (const m of msgs) {
    const k = Buffer.from(m).toString("hex");
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  for (const w of want) {
    const k = Buffer.from(w).toString("hex");
    if (!counts.get(k)) {
      throw new Error(
        `topic ${topic} lacks an event (${w.length} bytes: ${k}); it holds ${msgs.length} messages`,
      );
    }
    counts.set(k, counts.get(k) - 1);
  }
  if (exact) {
    const extra = [...counts.values()].reduce((a, b) => a + b, 0);
    if (extra !== 0) throw new Error(`topic ${topic} holds ${extra} messages more than were sent`);
  }
}
