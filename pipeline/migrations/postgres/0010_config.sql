-- The commit of the product's configuration a build used (its manifest's git work tree), and
-- whether that tree had changes not committed (issue 11: a release's git tag goes on it).
ALTER TABLE builds ADD COLUMN config_commit TEXT;
ALTER TABLE builds ADD COLUMN config_dirty INTEGER;
