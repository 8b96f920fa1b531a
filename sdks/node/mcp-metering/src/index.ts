export { McpMetering, meterServer, meterTransport, type McpMeteringOptions, type Transport } from "./metering.js";
export {
  CLIENT_INFO_META,
  Observer,
  Session,
  idKey,
  parse,
  sessionHash,
  type McpRecord,
  type McpTransportName,
  type ObserverOptions,
} from "./observer.js";
