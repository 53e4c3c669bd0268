-- Incremental gold: which key values each silver build touched, so a keyed gold model recomputes only those.
-- A NULL key_value means "everything changed" (a rebuild).
CREATE TABLE IF NOT EXISTS refinery.change_log (
  table_name VARCHAR NOT NULL,
  run_id     BIGINT NOT NULL,
  key_name   VARCHAR,
  key_value  VARCHAR
);
