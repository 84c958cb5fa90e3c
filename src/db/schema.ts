import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Table types for Kysely. Column names are snake_case in SQL, camelCase here (CamelCasePlugin). */
export interface UsersTable {
  id: Generated<string>;
  email: string;
  name: string;
  role: Generated<Role>;
  createdAt: ColumnType<Date, never, never>;
}

export interface MarketsTable {
  id: Generated<string>;
  slug: string;
  name: string;
  description: Generated<string>;
  category: string;
  tags: Generated<string[]>;
  status: Generated<MarketStatus>;
  closesAt: Date;
  creatorId: string;
  probability: Generated<number>;
  volume: Generated<number>;
  outcome: Outcome | null;
  resolvedAt: Date | null;
  createdAt: ColumnType<Date, Date | undefined, never>;
  updatedAt: ColumnType<Date, Date | undefined, Date>;
  version: Generated<number>;
}

/** Written by the search indexing job. `embedding vector(N)` exists only where pgvector does, so raw SQL reaches it. */
export interface MarketEmbeddingsTable {
  marketId: string;
  model: string;
  marketVersion: number;
  embeddedAt: ColumnType<Date, Date | undefined, Date>;
}

/** Kept current by a trigger on markets (004_search.sql); the search query reads it. */
export interface MarketSearchDocumentsTable {
  marketId: string;
  document: string;
}

export interface SchemaMigrationsTable {
  name: string;
  appliedAt: ColumnType<Date, never, never>;
}

export interface DB {
  users: UsersTable;
  markets: MarketsTable;
  marketEmbeddings: MarketEmbeddingsTable;
  marketSearchDocuments: MarketSearchDocumentsTable;
  schemaMigrations: SchemaMigrationsTable;
}

export type Role = 'admin' | 'moderator' | 'user';
export type MarketStatus = 'active' | 'closed' | 'resolved' | 'cancelled';
export type Outcome = 'YES' | 'NO';

export type UserRow = Selectable<UsersTable>;
export type MarketRow = Selectable<MarketsTable>;
export type NewMarketRow = Insertable<MarketsTable>;
export type MarketRowUpdate = Updateable<MarketsTable>;
