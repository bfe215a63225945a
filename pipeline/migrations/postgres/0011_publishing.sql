-- Publishing releases (issue 11). A build may hold two releases: its candidate (a daily version
-- or an rc) and the final version an rc is promoted to, on the same bundle digest; a release is
-- therefore keyed by build and version. Publishing is a journal (release_steps): each step is
-- recorded before and after it runs, so the next process resumes where one died. The process
-- publishing a release holds it by a lease on the database's clock and an owner token its
-- claim writes, which every write of the journal checks.
ALTER TABLE release_decisions DROP CONSTRAINT release_decisions_build_id_fkey;
ALTER TABLE release_decisions ADD FOREIGN KEY (build_id) REFERENCES builds (id);
ALTER TABLE releases DROP CONSTRAINT releases_pkey;
ALTER TABLE releases ADD PRIMARY KEY (build_id, version);
ALTER TABLE releases
    ADD COLUMN promoted_from TEXT,
    ADD COLUMN publish_lease_until BIGINT,
    ADD COLUMN publish_owner TEXT,
    ADD COLUMN failed_step TEXT,
    ADD COLUMN failure TEXT,
    ADD COLUMN published_at BIGINT;

DROP INDEX releases_hold_their_version;
CREATE UNIQUE INDEX releases_hold_their_version ON releases (product, version)
    WHERE state IN ('candidate', 'approved', 'publishing', 'publish-failed', 'published');
CREATE INDEX releases_by_state ON releases (state);

-- The publishing journal: one row per release and step (registry, git, github, notify).
CREATE TABLE release_steps (
    build_id     TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    step         TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    attempts     BIGINT  NOT NULL,
    detail       TEXT,
    error        TEXT,
    started_at   BIGINT  NOT NULL,
    finished_at  BIGINT,
    PRIMARY KEY (build_id, version, step),
    FOREIGN KEY (build_id, version) REFERENCES releases (build_id, version)
);
