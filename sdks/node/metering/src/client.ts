// Metering: records usage events and ships them to the console's POST /v1/usage/events.

import { buildEvent, type EventFields, type WireEvent } from "./core.js";
import { Shipper, type ShipperOptions } from "./shipper.js";

export type MeteringOptions = ShipperOptions;

/**
 * `record()` only appends to an in-memory buffer; one async loop sends batches with retries.
 * What is buffered is sent by flush(), close() and when the process's event loop empties.
 */
export class Metering extends Shipper<WireEvent> {
  constructor(options: MeteringOptions) {
    super("/v1/usage/events", "events", options);
  }

  /**
   * Buffer one event; resolves with its id. Waits only under the "block" policy with a full
   * buffer. Invalid input throws here, synchronously, not later.
   */
  record(metric: string, quantity = 1, fields: EventFields = {}): Promise<string> {
    const event = buildEvent(metric, quantity, fields);
    return this.enqueue(event).then(() => event.event_id);
  }

  /** Like record() but never waits: a full buffer drops the event (stats.dropped). */
  recordNowait(metric: string, quantity = 1, fields: EventFields = {}): string {
    const event = buildEvent(metric, quantity, fields);
    this.enqueueNowait(event);
    return event.event_id;
  }
}
