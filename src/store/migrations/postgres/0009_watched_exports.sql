-- What `finopsd run` last ingested from each watched location: the version (ETag, or size
-- and modification time) of every file its export was made of. A daemon that restarts, or
-- another daemon on the same store, skips a location whose files are the versions recorded.
CREATE TABLE watched_exports (
    location    TEXT NOT NULL PRIMARY KEY,
    versions    TEXT NOT NULL,
    ingested_at TEXT NOT NULL
);
