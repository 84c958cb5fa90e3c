import { type Kysely, sql } from 'kysely';
import type { DB } from '../../src/db/schema.ts';
import { subsidyCents } from '../../src/domain/settlement.ts';
import { SAMPLE_LIQUIDITY } from './sample-book.ts';

/** The sample multiple-choice market: eight riders, untraded (each at 1/8). */
export const TOUR_DE_FRANCE = {
  slug: 'who-wins-the-2027-tour-de-france',
  name: 'Who wins the 2027 Tour de France?',
  description: 'Resolves to the rider in the yellow jersey in Paris at the end of the 2027 Tour de France.',
  category: 'sports',
  tags: ['cycling', 'tour-de-france'],
  closesAt: new Date('2027-07-25T17:00:00Z'),
  answers: [
    'Tadej Pogačar',
    'Jonas Vingegaard',
    'Remco Evenepoel',
    'Primož Roglič',
    'Juan Ayuso',
    'João Almeida',
    'Carlos Rodríguez',
    'Another rider',
  ],
};

/**
 * Inserts the Tour de France market once (its slug taken: nothing), funded by `creatorId` with
 * the LMSR subsidy b·ln 8. Returns the cents its creator paid, which the seed grants them, so
 * the ledger balances; 0 when it was already there.
 */
export async function insertTourDeFrance(db: Kysely<DB>, creatorId: string): Promise<number> {
  const m = TOUR_DE_FRANCE;
  const subsidy = subsidyCents(SAMPLE_LIQUIDITY, m.answers.length);
  const { rows } = await sql<{ id: string }>`
    insert into markets (slug, name, description, category, tags, closes_at, creator_id, probability,
                         liquidity, type, shares, subsidy, escrow)
    values (${m.slug}, ${m.name}, ${m.description}, ${m.category}, ${m.tags}::text[], ${m.closesAt},
            ${creatorId}, ${1 / m.answers.length}, ${SAMPLE_LIQUIDITY}, 'multiple',
            ${m.answers.map(() => 0)}::int8[], ${subsidy}, ${subsidy})
    on conflict (slug) do nothing
    returning id`.execute(db);
  const id = rows[0]?.id;
  if (!id) return 0;
  await sql`insert into market_answers (market_id, index, text)
    select ${id}, i - 1, t from unnest(${m.answers}::text[]) with ordinality as a(t, i)`.execute(db);
  return subsidy;
}
