import { randomBytes } from 'node:crypto';

/** "Will BTC hit $100k?" → "will-btc-hit-100k" (at most 80 characters). */
export function slugify(text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80)
    .replace(/-+$/, '');
  return slug || 'market';
}

export function withRandomSuffix(slug: string): string {
  return `${slug}-${randomBytes(4).toString('hex')}`;
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
