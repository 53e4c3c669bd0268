-- The schema a silver or gold table's build last recorded (or confirmed) in refinery.schema_history, as a
-- fingerprint of its columns and inputs: the next build compares against it instead of reading the history
-- back. NULL for tables built before this column existed; their next build reads the history once.
ALTER TABLE refinery.tables ADD COLUMN IF NOT EXISTS schema_fingerprint VARCHAR;
