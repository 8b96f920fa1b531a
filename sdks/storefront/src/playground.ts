/** Try-it helpers: an operation of an imported spec is called through the console's proxy
 * (the browser sends the operation id, the key's id and the body; the console injects the
 * credential), and its phases stream back live. */

import type { PlaygroundRunSubscription, PlaygroundTimingFieldsFragment } from "./generated/graphql.js";

export type PlaygroundEvent = PlaygroundRunSubscription["playgroundRun"];
export type PlaygroundResponse = NonNullable<PlaygroundEvent["response"]>;
export type PlaygroundTiming = PlaygroundTimingFieldsFragment;

export type WaterfallPhase = "dns" | "connect" | "tls" | "ttfb" | "transfer";

/** One bar of the waterfall: where it starts and how long it lasts, in milliseconds. */
export interface WaterfallSegment {
  phase: WaterfallPhase;
  label: string;
  startMs: number;
  durationMs: number;
}

const LABELS: Record<WaterfallPhase, string> = {
  dns: "DNS",
  connect: "Connect",
  tls: "TLS",
  ttfb: "Waiting (TTFB)",
  transfer: "Transfer",
};

// The event that ends each phase.
const ENDS: ReadonlyArray<[string, WaterfallPhase]> = [
  ["DNS_RESOLVED", "dns"],
  ["CONNECTED", "connect"],
  ["TLS_DONE", "tls"],
  ["FIRST_BYTE", "ttfb"],
  ["COMPLETED", "transfer"],
];

/** The waterfall of a finished request, from its timing. */
export function waterfall(timing: PlaygroundTiming): WaterfallSegment[] {
  const parts: Array<[WaterfallPhase, number]> = [
    ["dns", timing.dnsMs],
    ["connect", timing.connectMs],
    ["tls", timing.tlsMs],
    ["ttfb", timing.ttfbMs],
    ["transfer", timing.transferMs],
  ];
  let at = 0;
  return parts.map(([phase, ms]) => {
    const segment = { phase, label: LABELS[phase], startMs: at, durationMs: Math.max(0, ms) };
    at += segment.durationMs;
    return segment;
  });
}

/** The waterfall so far, from the phase events received (live, before the run completes). */
export function waterfallOf(events: ReadonlyArray<Pick<PlaygroundEvent, "phase" | "elapsedMs">>): WaterfallSegment[] {
  const out: WaterfallSegment[] = [];
  let at = 0;
  for (const [phaseEvent, phase] of ENDS) {
    const e = events.find((x) => x.phase === phaseEvent);
    if (!e) continue;
    out.push({ phase, label: LABELS[phase], startMs: at, durationMs: Math.max(0, e.elapsedMs - at) });
    at = Math.max(at, e.elapsedMs);
  }
  return out;
}
