-- Full-text search. The document (the name weighs more than the description) lives in its own
-- table, kept current by a trigger in the same transaction as every write, behind a GIN index.
-- Stored rather than an expression index: ranking reads the tsvector of every match, and
-- recomputing to_tsvector per match costs more than the query. Its own table rather than a
-- generated column on markets: no tsvector in every `select *` of a market.
CREATE FUNCTION market_search_document(name text, description text) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN setweight(to_tsvector('english'::regconfig, name), 'A')
      || setweight(to_tsvector('english'::regconfig, description), 'B');

CREATE TABLE market_search_documents (
  market_id  uuid PRIMARY KEY REFERENCES markets (id) ON DELETE CASCADE,
  document   tsvector NOT NULL
);
CREATE INDEX market_search_documents_document_idx ON market_search_documents USING gin (document);

CREATE FUNCTION market_search_documents_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO market_search_documents (market_id, document)
  VALUES (NEW.id, market_search_document(NEW.name, NEW.description))
  ON CONFLICT (market_id) DO UPDATE SET document = excluded.document;
  RETURN NULL;
END
$$;
CREATE TRIGGER markets_search_documents_sync AFTER INSERT OR UPDATE OF name, description ON markets
  FOR EACH ROW EXECUTE FUNCTION market_search_documents_sync();

-- One embedding per market, written by the indexing job. Kept out of `markets` so list scans stay
-- narrow. The `embedding vector(N)` column and its HNSW index are added at startup when pgvector is
-- available (src/modules/search/vector-support.ts): this file must also run where it is not.
-- `model` says which embedder made the vector; `market_version` lets a slow job never overwrite the
-- embedding of a newer version of the market.
CREATE TABLE market_embeddings (
  market_id       uuid PRIMARY KEY REFERENCES markets (id) ON DELETE CASCADE,
  model           text NOT NULL,
  market_version  integer NOT NULL,
  embedded_at     timestamptz(3) NOT NULL DEFAULT now()
);
CREATE INDEX market_embeddings_model_idx ON market_embeddings (model);
