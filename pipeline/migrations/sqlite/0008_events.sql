-- Build events (issue 10): what a build told while it ran, in order, for the event stream
-- (`GET /api/v1/builds/{id}/events`) of whichever replica a client asks.
CREATE TABLE build_events (
    build_id  TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    event     TEXT    NOT NULL,
    PRIMARY KEY (build_id, seq)
);
