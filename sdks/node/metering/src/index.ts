export { Metering, type MeteringOptions } from "./client.js";
export { Shipper, type ShipperOptions } from "./shipper.js";
export { meter, type MeterOptions } from "./meter.js";
export {
  meterExpress,
  meterFastify,
  meterHttp,
  normalizeRoute,
  setRoute,
  track,
  type MiddlewareOptions,
} from "./middleware.js";
export {
  buildEvent,
  isUuid,
  newEventId,
  type EventFields,
  type Logger,
  type OverflowPolicy,
  type RequestFields,
  type Stats,
  type WireEvent,
} from "./core.js";
export { VERSION } from "./version.js";
