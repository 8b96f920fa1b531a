package com.aforo.metering;

/**
 * Counters a process can export to its own monitoring.
 *
 * @param rejected refused by the console as invalid: retrying would not help
 * @param dropped discarded because the buffer was full (DROP policy)
 * @param failed given up on: token refused, or close() ran out of time
 */
public record Stats(
    long accepted,
    long duplicates,
    long rejected,
    long dropped,
    long failed,
    long retries,
    long batches) {}
