import type { CompiledQuery, Kysely } from 'kysely';
import type { DB } from '../../src/db/schema.ts';
import { createMarketRepository } from '../../src/modules/markets/markets.repository.ts';
import { listMarketsQuery } from '../../src/modules/markets/markets.schemas.ts';
import {
  createMarketsService,
  type MarketFunding,
  type MarketsService,
} from '../../src/modules/markets/markets.service.ts';

/**
 * The SQL a market read issues when it misses the cache, captured where the route's service
 * hands it to the repository and compiled as the repository compiles it: the same builder call
 * with the same parameters, so pgbench runs what the route runs. Reads only: the write-side
 * dependencies of the service are never called here.
 */
export function createRouteSql(db: Kysely<DB>) {
  const repository = createMarketRepository(db);
  let captured: CompiledQuery | undefined;
  const unused = new Proxy(
    {},
    {
      get: (_, name) => () => {
        throw new Error(`route-sql: a read called ${String(name)}`);
      },
    },
  );
  const service: MarketsService = createMarketsService({
    db,
    markets: {
      ...repository,
      findById(id, trx) {
        // A lone lookup's SQL (concurrent ones are batched into one statement: batched-lookup.ts).
        captured = repository.findByIdQuery(id, trx).compile();
        return repository.findById(id, trx);
      },
      list(page) {
        captured = repository.listQuery(page).compile();
        return repository.list(page);
      },
    },
    users: { findProfiles: async () => new Map() },
    funding: unused as MarketFunding,
    events: unused as never,
    defaultLiquidity: 0,
    deadlineMs: 0,
  });

  /** One read at a time: `captured` is the query of the read in flight. */
  async function capture(read: () => Promise<unknown>): Promise<CompiledQuery> {
    captured = undefined;
    await read();
    if (!captured) throw new Error('route-sql: the read issued no market query');
    return captured;
  }

  return {
    /** GET /api/markets/:id's query for this id. */
    byId: (id: string) => capture(() => service.get(id)),
    /** GET /api/markets?…'s page query for this path (its query string, parsed as the route parses it). */
    list: (path: string) =>
      capture(() =>
        service.list(listMarketsQuery.parse(Object.fromEntries(new URL(path, 'http://bench').searchParams))),
      ),
  };
}
