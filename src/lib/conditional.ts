import { createHash } from 'node:crypto';

/**
 * If-None-Match against an ETag, by the weak comparison RFC 9110 prescribes for it: `W/` is
 * ignored on both sides, a list matches when any member does, and `*` matches any current
 * representation.
 */
export function ifNoneMatchHolds(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const wanted = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === wanted;
  });
}

/** An ETag over the exact bytes of a body: the same body, the same tag, on every instance. */
export function etagOfBody(body: string | Buffer): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}
