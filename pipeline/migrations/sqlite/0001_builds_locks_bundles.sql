-- Locks, builds with their stages, and bundles (SQLite).
CREATE TABLE locks (
    id          TEXT    PRIMARY KEY,
    product     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    document    TEXT    NOT NULL
);
CREATE INDEX locks_by_product ON locks (product, created_at);

CREATE TABLE builds (
    id                TEXT    PRIMARY KEY,
    product           TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    trigger_source    TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    finished_at       INTEGER,
    lock_id           TEXT    REFERENCES locks (id),
    bundle_repository TEXT,
    bundle_digest     TEXT,
    error             TEXT
);
CREATE INDEX builds_by_product ON builds (product, created_at);

CREATE TABLE build_stages (
    build_id    TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    message     TEXT,
    PRIMARY KEY (build_id, name)
);

CREATE TABLE bundles (
    repository  TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    product     TEXT    NOT NULL,
    lock_id     TEXT    NOT NULL REFERENCES locks (id),
    created_at  INTEGER NOT NULL,
    document    TEXT    NOT NULL,
    PRIMARY KEY (repository, digest)
);
