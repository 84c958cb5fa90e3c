import { postgresBinariesMissing } from '../../scripts/lib/cluster/postgres.ts';

// The throwaway clusters live in the topology library, which `npm run cluster` uses as well.
export { type OwnPostgres, ownPostgresServer, ownStandbyServer } from '../../scripts/lib/cluster/postgres.ts';

/** `skip` option for the PostgreSQL fault suites: false when a throwaway cluster can be started. */
export const skipWithoutPostgresBinaries: false | string = postgresBinariesMissing
  ? `${postgresBinariesMissing}: the outage tests start and stop their own PostgreSQL`
  : false;
