-- Full-text search: an expression GIN index over one immutable function, which the search query
-- calls with the same arguments so the planner matches the index. An index rather than a stored
-- generated column: it is always current with the row, needs no background job, and keeps a
-- tsvector out of every `select *` on markets. The name weighs more than the description.
CREATE FUNCTION market_search_document(name text, description text) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN setweight(to_tsvector('english'::regconfig, name), 'A')
      || setweight(to_tsvector('english'::regconfig, description), 'B');
CREATE INDEX markets_search_document_idx ON markets USING gin (market_search_document(name, description));

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
