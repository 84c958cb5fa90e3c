import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMemoryCache } from '../src/lib/cache/memory-cache.ts';

describe('memory cache', () => {
  test('holds at most maxEntries entries, dropping the least recently used', async () => {
    const cache = createMemoryCache({ maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) await cache.set(key, key, 60);
    await cache.get('a'); // a is now more recent than b
    await cache.set('d', 'd', 60);
    assert.equal(await cache.get('b'), undefined);
    assert.deepEqual(await Promise.all(['a', 'c', 'd'].map((k) => cache.get(k))), ['a', 'c', 'd']);
  });

  test('holds at most maxBytes of keys and values, and refuses a value larger than that', async () => {
    const cache = createMemoryCache({ maxEntries: 1000, maxBytes: 10_000 });
    const value = 'x'.repeat(1000); // ~2 kB in memory
    for (let i = 0; i < 10; i++) await cache.set(`k${i}`, value, 60);
    const kept = (await Promise.all(Array.from({ length: 10 }, (_, i) => cache.get(`k${i}`)))).filter(
      Boolean,
    );
    assert.ok(kept.length <= 5, `${kept.length} entries kept`);
    assert.equal(await cache.get('k9'), value, 'the newest entry stays');
    await cache.set('huge', 'y'.repeat(20_000), 60);
    assert.equal(await cache.get('huge'), undefined);
  });

  test('an entry expires after its TTL', async () => {
    const cache = createMemoryCache();
    await cache.set('short', 'v', 0.05);
    assert.equal(await cache.get('short'), 'v');
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(await cache.get('short'), undefined);
  });
});
