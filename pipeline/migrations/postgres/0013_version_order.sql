-- Releases are listed in semver precedence (issue 11): `version_key` is a text whose byte order
-- is the version's precedence (`chorale::versions::precedence_key`), written with each release;
-- rows from before are filled in by the store when it opens.
-- Compared byte by byte whatever the database's locale (COLLATE "C").
ALTER TABLE releases ADD COLUMN version_key TEXT COLLATE "C";
CREATE INDEX releases_by_version ON releases (version_key, build_id);
