-- Pages of clusters through the API (issue 10): newest first, by creation time and name.
CREATE INDEX clusters_by_time ON clusters (created_at, name);
