package com.aforo.metering;

/** What {@link Metering#record} does when the buffer is full because the console stays down. */
public enum Overflow {
  /** Wait for room: nothing is lost, the caller is slowed. */
  BLOCK,
  /** Discard the new event and count it in {@link Stats#dropped()}. */
  DROP
}
