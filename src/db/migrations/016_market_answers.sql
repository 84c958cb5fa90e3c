-- Multiple-choice markets (issue 14): every market has answers, priced by LMSR over N outcomes.
-- A binary market has two, index 0 = 'YES' and index 1 = 'NO': its outcome YES|NO IS answer 0|1.
CREATE TABLE market_answers (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  market_id  uuid NOT NULL REFERENCES markets (id) ON DELETE CASCADE,
  index      smallint NOT NULL CHECK (index >= 0 AND index < 20),
  text       text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 200),
  UNIQUE (market_id, index)
);
INSERT INTO market_answers (market_id, index, text)
  SELECT id, 0, 'YES' FROM markets UNION ALL SELECT id, 1, 'NO' FROM markets;

ALTER TABLE markets ADD COLUMN type text NOT NULL DEFAULT 'binary' CHECK (type IN ('binary', 'multiple'));
-- Outstanding micro-shares per answer index (replaces yes_shares/no_shares).
ALTER TABLE markets ADD COLUMN shares bigint[] NOT NULL DEFAULT '{0,0}'
  CHECK (cardinality(shares) BETWEEN 2 AND 20 AND 0 <= ALL (shares));
UPDATE markets SET shares = ARRAY[yes_shares, no_shares];
ALTER TABLE markets DROP COLUMN yes_shares;
ALTER TABLE markets DROP COLUMN no_shares;
-- The winning answer once resolved (binary markets keep `outcome` beside it).
ALTER TABLE markets ADD COLUMN resolved_answer_index smallint;
UPDATE markets SET resolved_answer_index = CASE outcome WHEN 'YES' THEN 0 ELSE 1 END WHERE outcome IS NOT NULL;
CREATE INDEX markets_type_created_at_idx ON markets (type, created_at, id);

-- Trades and positions name the answer by index; `outcome` stays for binary rows (null otherwise).
ALTER TABLE trades ADD COLUMN answer_index smallint;
UPDATE trades SET answer_index = CASE outcome WHEN 'YES' THEN 0 ELSE 1 END;
ALTER TABLE trades ALTER COLUMN answer_index SET NOT NULL;
ALTER TABLE trades ALTER COLUMN outcome DROP NOT NULL;

ALTER TABLE positions ADD COLUMN answer_index smallint;
UPDATE positions SET answer_index = CASE outcome WHEN 'YES' THEN 0 ELSE 1 END;
ALTER TABLE positions ALTER COLUMN answer_index SET NOT NULL;
ALTER TABLE positions DROP CONSTRAINT positions_pkey;
ALTER TABLE positions ADD PRIMARY KEY (market_id, user_id, answer_index);
ALTER TABLE positions ALTER COLUMN outcome DROP NOT NULL;

-- Search finds a multiple-choice market by its answers' text (weighed as the description).
CREATE FUNCTION market_answers_document(market uuid) RETURNS tsvector LANGUAGE sql STABLE
  RETURN setweight(to_tsvector('english'::regconfig, coalesce(
    (SELECT string_agg(a.text, ' ' ORDER BY a.index)
       FROM market_answers a JOIN markets m ON m.id = a.market_id
      WHERE a.market_id = market AND m.type = 'multiple'), '')), 'B');

CREATE OR REPLACE FUNCTION market_search_documents_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO market_search_documents (market_id, document)
  VALUES (NEW.id, market_search_document(NEW.name, NEW.description, NEW.tags) || market_answers_document(NEW.id))
  ON CONFLICT (market_id) DO UPDATE SET document = excluded.document;
  RETURN NULL;
END
$$;

CREATE FUNCTION market_answers_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE market_search_documents d
     SET document = market_search_document(m.name, m.description, m.tags) || market_answers_document(m.id)
    FROM markets m
   WHERE m.id = NEW.market_id AND d.market_id = m.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER market_answers_search_sync AFTER INSERT OR UPDATE OF text ON market_answers
  FOR EACH ROW EXECUTE FUNCTION market_answers_search_sync();

-- Every answer's price after each trade, in answer order: a multiple-choice market's history per
-- answer reads it (a trade moves every answer's price, and the ledger's probability_* are the traded
-- answer's). Null on trades from before this migration (all binary, charted from probability_*).
ALTER TABLE trades ADD COLUMN answer_prices double precision[];
