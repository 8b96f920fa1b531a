// A bounded buffer drained in batches (by size, or every flushInterval) by one async loop.
// Items leave the buffer only once the console has settled them, so the bound covers what is in
// flight too. A batch keeps its ids across attempts: a retry after a lost answer counts once.

import {
  MAX_BATCH,
  backoff,
  consoleLogger,
  emptyStats,
  judge,
  type Logger,
  type OverflowPolicy,
  type Stats,
} from "./core.js";
import { VERSION } from "./version.js";

export interface ShipperOptions {
  /** The console's base URL, e.g. https://console.example.com */
  url: string;
  /** A gateway token (gwt_…); keep it in the environment, never in code. */
  token: string;
  /** Send as soon as this many are buffered (1-10 000). Default 500. */
  batchSize?: number;
  /** Send whatever is buffered at least this often. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Events kept while the console is unreachable. Default 100 000. */
  maxBuffer?: number;
  /** When the buffer is full: "drop" the new event (counted) or "block" (record() waits). */
  overflow?: OverflowPolicy;
  /** One request's timeout. Default 10 000 ms. */
  timeoutMs?: number;
  /** How long the end of the process may spend sending what is left. Default 5000 ms. */
  exitTimeoutMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Flush when the event loop empties (`beforeExit`). Default true. */
  flushOnExit?: boolean;
  logger?: Logger;
}

const ABORTED = Symbol("aborted");
const live = new Set<WeakRef<Shipper<unknown>>>();
let hooked = false;

function hookProcessExit(): void {
  if (hooked || typeof process === "undefined") return;
  hooked = true;
  // The loop is empty: send what is left. close() holds the process open (a ref'd deadline)
  // for at most exitTimeoutMs, then beforeExit fires again with nothing left to do.
  process.on("beforeExit", () => {
    for (const ref of live) {
      const s = ref.deref();
      if (s === undefined) live.delete(ref);
      else if (s.pending > 0) void s.close(s.exitTimeoutMs);
    }
  });
  process.on("exit", () => {
    for (const ref of live) {
      const s = ref.deref();
      if (s !== undefined && s.pending > 0) {
        s.logger.error(`${s.pending} events unsent at exit: call close() before process.exit()`);
      }
    }
  });
}

export class Shipper<T> {
  readonly stats: Stats = emptyStats();
  readonly logger: Logger;
  readonly exitTimeoutMs: number;
  private readonly endpoint: string;
  private readonly headers: Record<string, string>;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxBuffer: number;
  private readonly overflow: OverflowPolicy;
  private readonly timeoutMs: number;
  private readonly backoffBase: number;
  private readonly backoffCap: number;
  private readonly buf: T[] = [];
  private queued = 0; // items ever accepted into the buffer
  private settled = 0; // items ever removed from it (sent, refused or abandoned)
  private flushWanted = 0;
  private closing = false;
  private closed = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wakeLoop: (() => void) | undefined;
  private waiters: Array<() => void> = [];
  private readonly inFlight = new Set<AbortController>();
  private readonly sleeps = new Set<() => void>();
  private readonly ref = new WeakRef<Shipper<unknown>>(this);

  constructor(path: string, private readonly key: string, options: ShipperOptions) {
    if (!options.token) throw new TypeError("token is required");
    if (!options.url) throw new TypeError("url is required");
    this.endpoint = options.url.replace(/\/+$/, "") + path;
    this.headers = {
      authorization: `Bearer ${options.token}`,
      "content-type": "application/json",
      "user-agent": `aforo-metering-node/${VERSION}`,
    };
    this.batchSize = options.batchSize ?? 500;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxBuffer = options.maxBuffer ?? 100_000;
    this.overflow = options.overflow ?? "drop";
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.exitTimeoutMs = options.exitTimeoutMs ?? 5000;
    this.backoffBase = (options.backoffBaseMs ?? 200) / 1000;
    this.backoffCap = (options.backoffCapMs ?? 30_000) / 1000;
    this.logger = options.logger ?? consoleLogger;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > MAX_BATCH) {
      throw new RangeError(`batchSize must be an integer between 1 and ${MAX_BATCH}`);
    }
    if (this.maxBuffer < this.batchSize) throw new RangeError("maxBuffer must be at least batchSize");
    if (!(this.flushIntervalMs > 0)) throw new RangeError("flushIntervalMs must be positive");
    if (this.overflow !== "block" && this.overflow !== "drop") {
      throw new RangeError('overflow must be "block" or "drop"');
    }
    if (options.flushOnExit ?? true) {
      hookProcessExit();
      live.add(this.ref);
    }
  }

  /** Items buffered or in flight. */
  get pending(): number {
    return this.buf.length;
  }

  /** Buffer one item without ever waiting; false if it was dropped (buffer full, or closed). */
  enqueueNowait(item: T): boolean {
    if (this.closing) {
      this.stats.dropped += 1;
      this.logger.warn("record() after close(); event dropped");
      return false;
    }
    if (this.buf.length >= this.maxBuffer) {
      this.stats.dropped += 1;
      return false;
    }
    this.buf.push(item);
    this.queued += 1;
    this.start();
    if (this.buf.length >= this.batchSize) this.wake();
    return true;
  }

  /** Buffer one item; under the "block" policy, wait for room first. */
  async enqueue(item: T, block?: boolean): Promise<boolean> {
    if (block ?? this.overflow === "block") {
      while (!this.closing && this.buf.length >= this.maxBuffer) {
        this.start();
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    }
    return this.enqueueNowait(item);
  }

  /** Send everything recorded so far; true once the console has settled all of it. */
  async flush(timeoutMs?: number): Promise<boolean> {
    if (this.settled >= this.queued) return true;
    const target = this.queued;
    this.flushWanted += 1;
    this.wake();
    try {
      await this.until(() => this.settled >= target || this.loop === undefined, timeoutMs);
      return this.settled >= target;
    } finally {
      this.flushWanted -= 1;
    }
  }

  /** Flush, then stop; what is still unsent after timeoutMs is counted in stats.failed. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    this.wake();
    this.notify();
    const loop = this.loop;
    if (loop !== undefined) {
      const done = await this.until(() => this.loop === undefined, timeoutMs, true);
      if (!done) {
        this.stop();
        await loop;
      }
    }
    if (this.closed) return;
    this.closed = true;
    live.delete(this.ref);
    if (this.buf.length) {
      this.stats.failed += this.buf.length;
      this.logger.error(`${this.buf.length} events unsent at close (console unreachable)`);
      this.buf.length = 0;
    }
  }

  // -- the sending loop ------------------------------------------------------------------------
  private start(): void {
    if (this.loop === undefined && !this.closed) {
      this.loop = this.run().finally(() => {
        this.loop = undefined;
        this.notify();
      });
    }
  }

  private async run(): Promise<void> {
    for (;;) {
      if (!this.ready()) await this.nap();
      if (!this.buf.length || this.stopped) return; // the next record() starts it again
      const batch = this.buf.slice(0, this.batchSize);
      try {
        await this.deliver(batch);
      } catch (e) {
        if (e === ABORTED) return;
        this.logger.error(`unexpected error while sending; batch dropped: ${String(e)}`);
        this.stats.failed += batch.length;
      }
      this.buf.splice(0, batch.length);
      this.settled += batch.length;
      this.notify();
    }
  }

  private ready(): boolean {
    return this.closing || this.buf.length >= this.batchSize || (this.flushWanted > 0 && this.buf.length > 0);
  }

  /** Wait for a reason to send, or flushIntervalMs. The timer never holds the process open. */
  private nap(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, this.flushIntervalMs);
      timer.unref?.();
      const self = this;
      function finish(): void {
        clearTimeout(timer);
        self.wakeLoop = undefined;
        resolve();
      }
      this.wakeLoop = finish;
    });
  }

  private wake(): void {
    this.wakeLoop?.();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private async until(done: () => boolean, timeoutMs?: number, holdOpen = false): Promise<boolean> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        if (left !== Infinity) {
          timer = setTimeout(resolve, left);
          if (!holdOpen) timer.unref?.();
        }
      });
      clearTimeout(timer);
    }
    return true;
  }

  private stop(): void {
    this.stopped = true;
    for (const c of this.inFlight) c.abort();
    for (const s of this.sleeps) s();
    this.wake();
  }

  private async deliver(items: T[]): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      if (this.stopped) throw ABORTED;
      let retryAfter: number | undefined;
      try {
        const answer = await this.post(items);
        const verdict = judge(answer.status, answer.headers, answer.body, items.length, this.stats, this.logger);
        if (verdict.done) return;
        if (verdict.split) {
          const half = Math.floor(items.length / 2);
          await this.deliver(items.slice(0, half));
          await this.deliver(items.slice(half));
          return;
        }
        retryAfter = verdict.retryAfter;
      } catch (e) {
        if (this.stopped) throw ABORTED;
        if (e === ABORTED) throw e;
        // a network error or a timeout: retried like a 503
      }
      this.stats.retries += 1;
      await this.sleep(backoff(attempt, this.backoffBase, this.backoffCap, retryAfter) * 1000);
    }
  }

  private async post(items: T[]): Promise<{ status: number; headers: Headers; body: string }> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    timer.unref?.();
    this.inFlight.add(controller);
    try {
      const response = await fetch(this.endpoint, {
        method: "POST",
        headers: this.headers,
        body: JSON.stringify({ [this.key]: items }),
        signal: controller.signal,
      });
      const body = await response.text();
      return { status: response.status, headers: response.headers, body };
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (aborted: boolean) => {
        clearTimeout(timer);
        this.sleeps.delete(interrupt);
        if (aborted) reject(ABORTED);
        else resolve();
      };
      const interrupt = () => finish(true);
      const timer = setTimeout(() => finish(false), ms);
      timer.unref?.();
      this.sleeps.add(interrupt);
    });
  }
}
