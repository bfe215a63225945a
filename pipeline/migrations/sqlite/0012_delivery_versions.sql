-- A build may be released twice (an rc, then the final version it is promoted to, on the same
-- bundle): the `released` notification of each version is a delivery of its own. The version
-- joins the key of a delivery ('' for events that are not about a version).
CREATE TABLE deliveries_next (
    id           TEXT    PRIMARY KEY,
    build_id     TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    notifier     TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    version      TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    lease_until  INTEGER,
    config       TEXT    NOT NULL,
    message      TEXT,
    policy       TEXT    NOT NULL,
    UNIQUE (build_id, notifier, event, version)
);
INSERT INTO deliveries_next (id, build_id, notifier, channel, event, state, attempts, last_error,
                             created_at, updated_at, lease_until, config, message, policy)
    SELECT id, build_id, notifier, channel, event, state, attempts, last_error, created_at,
           updated_at, lease_until, config, message, policy
    FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_next RENAME TO deliveries;
CREATE INDEX deliveries_by_state ON deliveries (state, lease_until);
CREATE INDEX deliveries_by_time ON deliveries (created_at);
