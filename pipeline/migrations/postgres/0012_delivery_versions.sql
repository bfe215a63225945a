-- A build may be released twice (an rc, then the final version it is promoted to, on the same
-- bundle): the `released` notification of each version is a delivery of its own. The version
-- joins the key of a delivery ('' for events that are not about a version).
ALTER TABLE deliveries ADD COLUMN version TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries DROP CONSTRAINT deliveries_build_id_notifier_event_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_build_id_notifier_event_version_key
    UNIQUE (build_id, notifier, event, version);
