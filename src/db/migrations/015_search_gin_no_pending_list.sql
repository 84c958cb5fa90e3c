-- The full-text GIN index without its pending list (fastupdate). With it, new documents wait in an
-- unsorted list that every search scans in full and that the planner counts against the index
-- (PGlite's planner then reads the documents sequentially): only VACUUM or autovacuum empties it,
-- and PGlite has no autovacuum. A market's text is written far more rarely than it is searched.
ALTER INDEX market_search_documents_document_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('market_search_documents_document_idx'::regclass);
