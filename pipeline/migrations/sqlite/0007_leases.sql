-- Build leases (issue 10): the process running a build renews `lease_until` (milliseconds, the
-- database's clock) while it runs; a running build whose lease ran out is reaped by any
-- replica. `request` now says where every build's product came from, so that the reaper can
-- write its report and tell its notifiers.
ALTER TABLE builds ADD COLUMN lease_until INTEGER;
CREATE INDEX builds_by_status ON builds (status, lease_until);
