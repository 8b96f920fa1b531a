// meter(): one event per call of a function, sync or async.

import type { Metering } from "./client.js";

type Resolvable<A extends unknown[], V> = V | ((...args: A) => V);

export interface MeterOptions<A extends unknown[], R> {
  metering: Metering;
  metric: string;
  /** A number, or computed from the result and the call's arguments. Default 1. */
  quantity?: number | ((result: Awaited<R>, ...args: A) => number);
  subscriptionId?: Resolvable<A, string | null | undefined>;
  keyId?: Resolvable<A, string | null | undefined>;
  consumer?: Resolvable<A, string | null | undefined>;
  properties?: Record<string, unknown>;
  /** Meter calls that throw too (with properties.error). Default false. */
  onError?: boolean;
}

function resolve<A extends unknown[], V>(value: Resolvable<A, V> | undefined, args: A): V | undefined {
  return typeof value === "function" ? (value as (...a: A) => V)(...args) : value;
}

/** Wrap `fn` so each successful call records one event (never waiting, never throwing). */
export function meter<A extends unknown[], R>(
  fn: (...args: A) => R,
  options: MeterOptions<A, R>,
): (...args: A) => R {
  const { metering, metric } = options;
  const record = (result: unknown, error: unknown, args: A) => {
    try {
      const properties = { ...(options.properties ?? {}) };
      if (error !== undefined) properties.error = error instanceof Error ? error.name : typeof error;
      const q = options.quantity;
      const quantity =
        error !== undefined ? 1 : typeof q === "function" ? q(result as Awaited<R>, ...args) : (q ?? 1);
      metering.recordNowait(metric, quantity, {
        subscriptionId: resolve(options.subscriptionId, args),
        keyId: resolve(options.keyId, args),
        consumer: resolve(options.consumer, args),
        properties,
      });
    } catch (e) {
      metering.logger.error(`meter(${metric}): could not record: ${String(e)}`);
    }
  };
  return function metered(this: unknown, ...args: A): R {
    let result: R;
    try {
      result = fn.apply(this, args);
    } catch (e) {
      if (options.onError) record(undefined, e, args);
      throw e;
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => {
          record(value, undefined, args);
          return value;
        },
        (e: unknown) => {
          if (options.onError) record(undefined, e ?? "error", args);
          throw e;
        },
      ) as R;
    }
    record(result, undefined, args);
    return result;
  };
}
