-- Publishing releases (issue 11). A build may hold two releases: its candidate (a daily version
-- or an rc) and the final version an rc is promoted to, on the same bundle digest; a release is
-- therefore keyed by build and version. Publishing is a journal (release_steps): each step is
-- recorded before and after it runs, so the next process resumes where one died. The process
-- publishing a release holds it by a lease on the database's clock and an owner token its
-- claim writes, which every write of the journal checks.
CREATE TABLE releases_next (
    build_id             TEXT    NOT NULL REFERENCES builds (id),
    product              TEXT    NOT NULL,
    version              TEXT    NOT NULL,
    state                TEXT    NOT NULL,
    bundle_repository    TEXT    NOT NULL,
    bundle_digest        TEXT    NOT NULL,
    lock_id              TEXT    NOT NULL,
    approvals_needed     INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    decided_at           INTEGER,
    promoted_from        TEXT,
    publish_lease_until  INTEGER,
    publish_owner        TEXT,
    failed_step          TEXT,
    failure              TEXT,
    published_at         INTEGER,
    PRIMARY KEY (build_id, version)
);
INSERT INTO releases_next (build_id, product, version, state, bundle_repository, bundle_digest,
                           lock_id, approvals_needed, created_at, expires_at, decided_at)
    SELECT build_id, product, version, state, bundle_repository, bundle_digest, lock_id,
           approvals_needed, created_at, expires_at, decided_at
    FROM releases;

-- Decisions are taken on a build (its candidate); a promoted final release shows them too.
CREATE TABLE release_decisions_next (
    build_id    TEXT    NOT NULL REFERENCES builds (id),
    actor       TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    decision    TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    overridden  INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (build_id, actor)
);
INSERT INTO release_decisions_next SELECT build_id, actor, role, decision, reason, overridden, at
    FROM release_decisions;

DROP TABLE release_decisions;
DROP TABLE releases;
ALTER TABLE releases_next RENAME TO releases;
ALTER TABLE release_decisions_next RENAME TO release_decisions;

CREATE UNIQUE INDEX releases_hold_their_version ON releases (product, version)
    WHERE state IN ('candidate', 'approved', 'publishing', 'publish-failed', 'published');
CREATE INDEX releases_by_time ON releases (created_at, build_id);
CREATE INDEX releases_by_state ON releases (state);

-- The publishing journal: one row per release and step (registry, git, github, notify).
CREATE TABLE release_steps (
    build_id     TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    step         TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    detail       TEXT,
    error        TEXT,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    PRIMARY KEY (build_id, version, step),
    FOREIGN KEY (build_id, version) REFERENCES releases (build_id, version)
);
