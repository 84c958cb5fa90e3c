import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Which IP addresses a webhook may connect to: public unicast only, plus the networks an operator
 * allows (WEBHOOK_ALLOWED_NETWORKS). ipaddr.js classifies an address into its IANA special-purpose
 * range; everything but `unicast` is refused: loopback, private (RFC 1918), carrier-grade NAT,
 * link-local (169.254.0.0/16, where cloud metadata services answer), unique-local (fc00::/7),
 * multicast, unspecified, reserved, and IPv6 forms that embed an IPv4 address (IPv4-mapped
 * ::ffff:a.b.c.d, NAT64, 6to4, Teredo), which would otherwise smuggle 127.0.0.1 past the check.
 */
export interface AddressPolicy {
  /** Undefined when allowed; otherwise why not, for the error message. */
  refusal(address: string): string | undefined;
}

export function createAddressPolicy(allowedNetworks: readonly string[]): AddressPolicy {
  const allowed = allowedNetworks.map((cidr) => ipaddr.parseCIDR(cidr));
  return {
    refusal(address) {
      if (!isIP(address)) return `${address} is not an IP address`;
      const parsed = ipaddr.parse(address);
      if (
        allowed.some(([network, bits]) => network.kind() === parsed.kind() && parsed.match(network, bits))
      ) {
        return undefined;
      }
      const range = parsed.range();
      return range === 'unicast' ? undefined : `${address} is a ${describe(range)} address`;
    },
  };
}

function describe(range: string): string {
  switch (range) {
    case 'loopback':
      return 'loopback';
    case 'private':
    case 'uniqueLocal':
    case 'carrierGradeNat':
      return 'private';
    case 'linkLocal':
      return 'link-local (cloud metadata)';
    case 'ipv4Mapped':
    case 'rfc6052':
    case 'rfc6145':
    case '6to4':
    case 'teredo':
      return 'IPv4-embedding IPv6';
    default:
      return `non-public (${range})`;
  }
}
