import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Read-your-writes across instances and replicas. A write's response carries a consistency token:
 * a WAL position (LSN, `16/B374D848`) the primary had reached after the write committed. A read
 * that presents it may be served by a replica only once that replica has replayed WAL up to it.
 */

const LSN_PATTERN = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i;

/** An LSN as PostgreSQL prints it, as a number that compares; undefined when it is not one. */
export function parseLsn(text: string): bigint | undefined {
  const match = LSN_PATTERN.exec(text.trim());
  if (!match) return undefined;
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** What the request being served needs from a replica: at least this much WAL replayed. */
interface ReadRequirement {
  minLsn: bigint;
}

const requirement = new AsyncLocalStorage<ReadRequirement>();

/** Runs `work` (and everything it starts) with reads held to `minLsn`. */
export function withReadConsistency<T>(minLsn: bigint, work: () => T): T {
  return requirement.run({ minLsn }, work);
}

/** The WAL position the current request's reads must see; undefined: any replica will do. */
export function requiredLsn(): bigint | undefined {
  return requirement.getStore()?.minLsn;
}
