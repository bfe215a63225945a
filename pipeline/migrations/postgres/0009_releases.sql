-- Releases (issue 11): a green build's version on its bundle digest, with every decision taken
-- on it. A version is held by one release of a product at a time, while it is a candidate,
-- approved or published: a rejected or expired candidate gives its version back, a published
-- one never does.
CREATE TABLE releases (
    build_id           TEXT    PRIMARY KEY REFERENCES builds (id),
    product            TEXT    NOT NULL,
    version            TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    bundle_repository  TEXT    NOT NULL,
    bundle_digest      TEXT    NOT NULL,
    lock_id            TEXT    NOT NULL,
    approvals_needed   BIGINT  NOT NULL,
    created_at         BIGINT  NOT NULL,
    expires_at         BIGINT  NOT NULL,
    decided_at         BIGINT
);
CREATE UNIQUE INDEX releases_hold_their_version ON releases (product, version)
    WHERE state IN ('candidate', 'approved', 'published');
CREATE INDEX releases_by_time ON releases (created_at, build_id);

-- One decision per person and release.
CREATE TABLE release_decisions (
    build_id    TEXT    NOT NULL REFERENCES releases (build_id),
    actor       TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    decision    TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    overridden  BIGINT  NOT NULL,
    at          BIGINT  NOT NULL,
    PRIMARY KEY (build_id, actor)
);
