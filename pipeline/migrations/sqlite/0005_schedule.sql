-- The scheduler (issue 10): every fire time of a product's schedule, claimed once by the
-- replica that records it (the key is product and fire time), with what became of it.
CREATE TABLE occurrences (
    product      TEXT    NOT NULL,
    fire_at      INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    build_id     TEXT,
    reason       TEXT,
    recorded_at  INTEGER NOT NULL,
    PRIMARY KEY (product, fire_at)
);
