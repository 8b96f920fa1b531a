// stdio mode: spawn the MCP server and relay bytes both ways, unchanged. A copy is split into
// lines (MCP stdio frames one JSON-RPC message per line) and observed after the forward, so
// metering never delays the relay.

import { spawn } from "node:child_process";
import { parse, Session, type Observer } from "@aforo/mcp-metering";

const MAX_LINE = 32 * 1024 * 1024; // longer lines are relayed but not observed

export class LineSplitter {
  private partial: Buffer[] = [];
  private length = 0;
  private oversized = false;
  constructor(private readonly onLine: (line: Buffer) => void) {}

  feed(data: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) break;
      if (!this.oversized) {
        const line = Buffer.concat([...this.partial, data.subarray(start, nl)]);
        const text = line.toString("utf8").trim();
        if (text) this.onLine(Buffer.from(text));
      }
      this.partial = [];
      this.length = 0;
      this.oversized = false;
      start = nl + 1;
    }
    if (!this.oversized && start < data.length) {
      this.partial.push(data.subarray(start));
      this.length += data.length - start;
      if (this.length > MAX_LINE) {
        this.partial = [];
        this.oversized = true;
      }
    }
  }
}

function guard(fn: (line: Buffer) => void): (line: Buffer) => void {
  return (line) => {
    try {
      fn(line);
    } catch (e) {
      process.stderr.write(`aforo-mcp-proxy: could not observe a message: ${String(e)}\n`);
    }
  };
}

/** Run `command` behind the relay; resolves with its exit code. */
export function relay(command: string[], observer: Observer): Promise<number> {
  const session = new Session();
  const child = spawn(command[0], command.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
  const fromClient = new LineSplitter(guard((line) => {
    const msg = parse(line);
    if (msg !== undefined) observer.clientMessage(session, msg, line.length);
  }));
  const fromServer = new LineSplitter(guard((line) => {
    const msg = parse(line);
    if (msg !== undefined) observer.serverMessage(session, msg, line.length);
  }));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    process.stdin.on("data", (chunk: Buffer) => {
      child.stdin.write(chunk);
      fromClient.feed(chunk);
    });
    process.stdin.once("end", () => child.stdin.end());
    child.stdin.on("error", () => undefined); // the server left: its exit settles everything
    child.stdout.on("data", (chunk: Buffer) => {
      process.stdout.write(chunk);
      fromServer.feed(chunk);
    });
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      process.on(sig, () => {
        if (child.exitCode === null) child.kill(sig);
      });
    }
    child.once("close", (code, signal) => {
      process.stdin.pause();
      process.stdin.unref?.();
      observer.end(session);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}
