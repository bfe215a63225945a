-- The service (issue 10): registered products, API tokens (only a hash of each secret), the
-- audit log, and the index that keeps a page of the builds list as cheap with 100,000 builds
-- as with 100.
CREATE TABLE products (
    name        TEXT    PRIMARY KEY,
    generation  INTEGER NOT NULL,
    manifest    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL
);

CREATE TABLE tokens (
    name         TEXT    PRIMARY KEY,
    role         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    resource    TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    request_id  TEXT,
    client      TEXT
);

CREATE INDEX builds_by_time ON builds (created_at, id);

-- A build asked for through the API waits as `pending` with its request until a worker
-- claims it.
ALTER TABLE builds ADD COLUMN request TEXT;
