-- Full runs (issue 3): who owns a running build, its candidate version and cluster, the
-- deploy result of every component, every test's outcome, and the clusters Chorale made.
ALTER TABLE builds ADD COLUMN owner_host TEXT;
ALTER TABLE builds ADD COLUMN owner_pid BIGINT;
ALTER TABLE builds ADD COLUMN candidate_version TEXT;
ALTER TABLE builds ADD COLUMN cluster_name TEXT;

CREATE TABLE build_components (
    build_id    TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    component   TEXT    NOT NULL,
    wave        BIGINT NOT NULL,
    status      TEXT    NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    message     TEXT,
    log_path    TEXT,
    PRIMARY KEY (build_id, component)
);

CREATE TABLE build_tests (
    build_id    TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    name        TEXT    NOT NULL,
    uses        TEXT    NOT NULL,
    gate        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempts    BIGINT NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    message     TEXT,
    artefacts   TEXT    NOT NULL,
    PRIMARY KEY (build_id, name)
);

CREATE TABLE clusters (
    name          TEXT    PRIMARY KEY,
    build_id      TEXT,
    provider      TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    torn_down_at  BIGINT,
    last_error    TEXT,
    document      TEXT    NOT NULL
);
CREATE INDEX clusters_by_state ON clusters (state, expires_at);
