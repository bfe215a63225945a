-- Notification deliveries (issue 4): one row per notifier and event of a build, written
-- before the first attempt. The message and the notifier's configuration (which names where
-- its secrets are, never the secrets) are kept so that another process can send it again
-- when the one sending it died; `lease_until` tells a live sender from a dead one.
CREATE TABLE deliveries (
    id           TEXT    PRIMARY KEY,
    build_id     TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    notifier     TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    attempts     BIGINT  NOT NULL,
    last_error   TEXT,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    lease_until  BIGINT,
    config       TEXT    NOT NULL,
    message      TEXT,
    policy       TEXT    NOT NULL,
    UNIQUE (build_id, notifier, event)
);
CREATE INDEX deliveries_by_state ON deliveries (state, lease_until);
CREATE INDEX deliveries_by_time ON deliveries (created_at);
