import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Table types for Kysely. Column names are snake_case in SQL, camelCase here (CamelCasePlugin). */
export interface UsersTable {
  id: Generated<string>;
  email: string;
  name: string;
  role: Generated<Role>;
  /** Cents. */
  balance: Generated<number>;
  /** Cents given to this user at sign-up (set by a trigger from the initial balance). */
  granted: ColumnType<number, never, never>;
  /** argon2id PHC string; null for users without a password (token script, external provider). */
  passwordHash: string | null;
  externalIssuer: string | null;
  externalSubject: string | null;
  createdAt: ColumnType<Date, never, never>;
}

export interface RefreshTokensTable {
  id: Generated<string>;
  familyId: string;
  userId: string;
  tokenHash: string;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
  createdAt: ColumnType<Date, never, never>;
}

/** One sign-up, by a digest of the client address (no link to the account); kept a day. */
export interface RegistrationsTable {
  ipHash: string;
  granted: boolean;
  createdAt: ColumnType<Date, never, never>;
}

export interface ApiKeysTable {
  id: Generated<string>;
  userId: string;
  name: string;
  prefix: string;
  keyHash: string;
  createdAt: ColumnType<Date, never, never>;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** Scope names (src/modules/auth/scopes.ts). */
  scopes: string[];
  expiresAt: Date | null;
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
  /** LMSR b, in cents. */
  liquidity: Generated<number>;
  /** 'binary' (answers YES, NO) or 'multiple' (016_market_answers.sql). */
  type: Generated<MarketType>;
  /** Outstanding micro-shares per answer index. */
  shares: Generated<number[]>;
  /** The winning answer's index once resolved (binary markets also keep `outcome`). */
  resolvedAnswerIndex: number | null;
  /** Cents the creator put in at creation (b·ln N, rounded up). */
  subsidy: Generated<number>;
  /** Cents the market maker holds. */
  escrow: Generated<number>;
  /** When its market.closed event was appended (008_comments.sql); null while not (yet). */
  closeAnnouncedAt: Generated<Date | null>;
  /** closesAt while active and not announced, else null (generated; the close sweep's index). */
  closeDueAt: ColumnType<Date | null, never, never>;
}

/** A market's answers in order (016_market_answers.sql); written only by the markets repository. */
export interface MarketAnswersTable {
  id: Generated<string>;
  marketId: string;
  index: number;
  text: string;
}

export interface TradesTable {
  id: Generated<string>;
  marketId: string;
  userId: string;
  /** Binary markets only (null on multiple-choice trades); answerIndex is the truth. */
  outcome: Outcome | null;
  answerIndex: number;
  side: TradeSide;
  amount: number;
  shares: number;
  probabilityBefore: number;
  probabilityAfter: number;
  /** Every answer's price after the trade, in answer order (null on trades older than 016). */
  answerPrices: number[] | null;
  createdAt: ColumnType<Date, never, never>;
}

export interface PositionsTable {
  userId: string;
  marketId: string;
  /** Binary markets only (null on multiple-choice positions); answerIndex is the truth. */
  outcome: Outcome | null;
  answerIndex: number;
  shares: number;
  costBasis: number;
  netSpent: number;
  payout: Generated<number>;
  updatedAt: ColumnType<Date, Date | undefined, Date>;
}

/** 017_limit_orders.sql; written only by the orders repository. */
export interface OrdersTable {
  id: Generated<string>;
  marketId: string;
  userId: string;
  /** The traded answer: 0 = YES, 1 = NO on a binary market. */
  answerIndex: number;
  side: TradeSide;
  /** Limit probability in thousandths (1–999). */
  limitMilli: number;
  /** buy: cents; sell: micro-shares. */
  amount: number;
  remaining: number;
  reserved: number;
  reservedCostBasis: Generated<number>;
  filledShares: Generated<number>;
  filledAmount: Generated<number>;
  status: Generated<OrderStatus>;
  expiresAt: Date | null;
  createdAt: ColumnType<Date, never, never>;
  updatedAt: ColumnType<Date, never, Date>;
}

export interface IdempotencyKeysTable {
  userId: string;
  key: string;
  requestHash: string;
  statusCode: number | null;
  response: unknown;
  createdAt: ColumnType<Date, never, never>;
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

/** Append-only (006_events.sql); written only by the events repository. */
export interface EventsTable {
  seq: Generated<number>;
  type: string;
  marketId: string | null;
  payload: unknown;
  createdAt: ColumnType<Date, never, never>;
}

/** 008_comments.sql: text is null once deleted (a tombstone). */
export interface CommentsTable {
  id: Generated<string>;
  marketId: string;
  authorId: string | null;
  replyTo: string | null;
  text: string | null;
  createdAt: ColumnType<Date, never, never>;
  deletedAt: Date | null;
  deletedBy: string | null;
}

/** One row (009_event_retention.sql): every seq up to pruned_through may have been pruned. */
export interface EventLogStateTable {
  id: ColumnType<boolean, never, never>;
  prunedThrough: number;
}

/** 010_webhooks.sql. */
export interface WebhookSubscriptionsTable {
  id: Generated<string>;
  userId: string;
  url: string;
  eventTypes: string[];
  marketIds: string[] | null;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  cursorSeq: number;
  status: Generated<WebhookStatus>;
  disabledReason: string | null;
  failingSince: Date | null;
  retryAt: Date | null;
  createdAt: ColumnType<Date, never, never>;
  updatedAt: ColumnType<Date, Date | undefined, Date>;
}

export interface WebhookDeliveriesTable {
  id: Generated<string>;
  subscriptionId: string;
  eventSeq: number;
  eventType: string;
  status: WebhookDeliveryStatus;
  attempts: Generated<number>;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: Date | null;
  createdAt: ColumnType<Date, never, never>;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
}

export type WebhookStatus = 'active' | 'disabled';
export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface SchemaMigrationsTable {
  name: string;
  appliedAt: ColumnType<Date, never, never>;
}

export interface DB {
  users: UsersTable;
  markets: MarketsTable;
  marketAnswers: MarketAnswersTable;
  trades: TradesTable;
  positions: PositionsTable;
  idempotencyKeys: IdempotencyKeysTable;
  orders: OrdersTable;
  refreshTokens: RefreshTokensTable;
  apiKeys: ApiKeysTable;
  registrations: RegistrationsTable;
  marketEmbeddings: MarketEmbeddingsTable;
  marketSearchDocuments: MarketSearchDocumentsTable;
  events: EventsTable;
  comments: CommentsTable;
  eventLogState: EventLogStateTable;
  webhookSubscriptions: WebhookSubscriptionsTable;
  webhookDeliveries: WebhookDeliveriesTable;
  schemaMigrations: SchemaMigrationsTable;
}

export type Role = 'admin' | 'moderator' | 'user';
export type MarketStatus = 'active' | 'closed' | 'resolved' | 'cancelled';
export type Outcome = 'YES' | 'NO';
export type MarketType = 'binary' | 'multiple';
export type TradeSide = 'buy' | 'sell';
export type OrderStatus = 'open' | 'filled' | 'cancelled' | 'expired';
export type OrderRow = Selectable<OrdersTable>;

export type UserRow = Selectable<UsersTable>;
/** A market's row with its answers (id, text), in index order, read with it. */
export type MarketRow = Selectable<MarketsTable> & { answers: AnswerRow[] };
export type AnswerRow = Pick<Selectable<MarketAnswersTable>, 'id' | 'text'>;
export type NewMarketRow = Insertable<MarketsTable>;
export type MarketRowUpdate = Updateable<MarketsTable>;
export type TradeRow = Selectable<TradesTable>;
export type PositionRow = Selectable<PositionsTable>;
export type CommentRow = Selectable<CommentsTable>;
