-- Tags join the full-text document: a market tagged "lisbon" is found by "lisbon" even when its
-- name and description never say it. They weigh as much as the description, less than the name.
CREATE FUNCTION market_search_document(name text, description text, tags text[]) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN setweight(to_tsvector('english'::regconfig, name), 'A')
      || setweight(to_tsvector('english'::regconfig, array_to_string(tags, ' ')), 'B')
      || setweight(to_tsvector('english'::regconfig, description), 'B');

CREATE OR REPLACE FUNCTION market_search_documents_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO market_search_documents (market_id, document)
  VALUES (NEW.id, market_search_document(NEW.name, NEW.description, NEW.tags))
  ON CONFLICT (market_id) DO UPDATE SET document = excluded.document;
  RETURN NULL;
END
$$;

DROP TRIGGER markets_search_documents_sync ON markets;
CREATE TRIGGER markets_search_documents_sync AFTER INSERT OR UPDATE OF name, description, tags ON markets
  FOR EACH ROW EXECUTE FUNCTION market_search_documents_sync();

UPDATE market_search_documents d
   SET document = market_search_document(m.name, m.description, m.tags)
  FROM markets m
 WHERE m.id = d.market_id;

DROP FUNCTION market_search_document(text, text);
