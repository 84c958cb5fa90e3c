import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';

export const PROVIDER_ISSUER = 'https://idp.example.test/';
export const PROVIDER_AUDIENCE = 'markets-api-tests';

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

/**
 * A stand-in identity provider on 127.0.0.1: serves a JWKS of keys generated here, counts the
 * fetches, can rotate in new keys or fail, and signs tokens as the provider would.
 */
export async function startIdentityProvider() {
  const published: SigningKey[] = [];
  let fetches = 0;
  let failing = false;

  const server: Server = createServer((request, response) => {
    if (request.url !== '/jwks.json') return response.writeHead(404).end();
    fetches++;
    if (failing) return response.writeHead(500).end('down');
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  async function newKey(alg: 'RS256' | 'ES256', publish = true): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `${alg.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}`;
    const key = {
      kid,
      alg,
      privateKey,
      publicKey,
      jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
    };
    if (publish) published.push(key);
    return key;
  }

  return {
    jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    get fetches() {
      return fetches;
    },
    setFailing(value: boolean) {
      failing = value;
    },
    newKey,
    publish(key: SigningKey) {
      published.push(key);
    },
    /** PEM of a key's public half: what an attacker can download and try as an HMAC secret. */
    publicPem: (key: SigningKey) => exportSPKI(key.publicKey),
    /** A token as the provider issues it; override any claim (undefined removes it). */
    sign(key: SigningKey, claims: Record<string, unknown> = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload = Object.fromEntries(
        Object.entries({
          iss: PROVIDER_ISSUER,
          aud: PROVIDER_AUDIENCE,
          sub: 'provider-user-1',
          email: 'someone@example.com',
          email_verified: true,
          iat: now,
          exp: now + 300,
          ...claims,
        }).filter(([, v]) => v !== undefined),
      );
      return new SignJWT(payload)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
        .sign(key.privateKey);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
