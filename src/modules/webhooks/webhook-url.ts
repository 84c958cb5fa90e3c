import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { AddressPolicy } from './address-policy.ts';

/** Resolves a host name to every address it has (dns.lookup, as connections do). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface UrlRules {
  policy: AddressPolicy;
  /** Host names (lower case) that may be reached over plain http. */
  httpHosts: readonly string[];
  resolve: Resolver;
  /** A name that takes longer to resolve is refused. */
  resolveTimeoutMs: number;
}

/** Why a webhook URL is refused, as the 400 answer and the delivery log say it. */
export class UrlRefused extends Error {
  /** The name did not resolve (now): a later attempt may succeed. A refused address will not. */
  readonly transient: boolean;
  constructor(message: string, transient = false) {
    super(message);
    this.transient = transient;
  }
}

/** The host as a connection sees it: URL brackets removed from an IPv6 literal. */
export const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * The rules that need no network: an absolute https URL (http only to an allowed host), no
 * credentials in it (they would be sent to the receiver and shown in the API), no fragment.
 */
export function checkUrlSyntax(raw: string, rules: Pick<UrlRules, 'httpHosts'>): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UrlRefused('url is not an absolute URL');
  }
  if (url.protocol === 'http:') {
    if (!rules.httpHosts.includes(hostOf(url).toLowerCase())) {
      throw new UrlRefused('url must use https (plain http only to hosts the operator allows)');
    }
  } else if (url.protocol !== 'https:') {
    throw new UrlRefused(`url must use https, not ${url.protocol.replace(/:$/, '')}`);
  }
  if (url.username || url.password) throw new UrlRefused('url must not carry credentials');
  if (url.hash) throw new UrlRefused('url must not have a fragment');
  return url;
}

/**
 * The addresses a URL's host resolves to, each checked against the policy; refused if any one is
 * not allowed (a name with one public and one private record is not a public name). Called at
 * creation and again at every delivery, whose connection then goes to one of these very addresses.
 */
export async function resolveAllowed(
  url: URL,
  rules: UrlRules,
): Promise<{ address: string; family: number }[]> {
  const host = hostOf(url);
  let addresses: { address: string; family: number }[];
  if (isIP(host)) {
    addresses = [{ address: host, family: isIP(host) }];
  } else {
    let timer: NodeJS.Timeout | undefined;
    try {
      addresses = await Promise.race([
        rules.resolve(host),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), rules.resolveTimeoutMs);
        }),
      ]);
    } catch (error) {
      throw new UrlRefused(`url host ${host} could not be resolved (${(error as Error).message})`, true);
    } finally {
      clearTimeout(timer);
    }
    if (addresses.length === 0) throw new UrlRefused(`url host ${host} has no address`, true);
  }
  for (const { address } of addresses) {
    const refusal = rules.policy.refusal(address);
    if (refusal) throw new UrlRefused(`url must not point at a non-public address: ${refusal}`);
  }
  return addresses;
}

/** Both checks, as at creation. */
export async function checkUrl(raw: string, rules: UrlRules): Promise<URL> {
  const url = checkUrlSyntax(raw, rules);
  await resolveAllowed(url, rules);
  return url;
}
