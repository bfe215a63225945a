-- Full runs (issue 3): who owns a running build, its candidate version and cluster, the
-- deploy result of every component, every test's outcome, and the clusters Chorale made.
ALTER TABLE builds ADD COLUMN owner_host TEXT;
ALTER TABLE builds ADD COLUMN owner_pid INTEGER;
ALTER TABLE builds ADD COLUMN candidate_version TEXT;
ALTER TABLE builds ADD COLUMN cluster_name TEXT;

CREATE TABLE build_components (
    build_id    TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    component   TEXT    NOT NULL,
    wave        INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    message     TEXT,
    log_path    TEXT,
    PRIMARY KEY (build_id, component)
);

CREATE TABLE build_tests (
    build_id    TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    uses        TEXT    NOT NULL,
    gate        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    message     TEXT,
    artefacts   TEXT    NOT NULL,
    PRIMARY KEY (build_id, name)
);

CREATE TABLE clusters (
    name          TEXT    PRIMARY KEY,
    build_id      TEXT,
    provider      TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    torn_down_at  INTEGER,
    last_error    TEXT,
    document      TEXT    NOT NULL
);
CREATE INDEX clusters_by_state ON clusters (state, expires_at);
