-- Schema evolution and published partitions.

-- Every version of every table's schema, written in the same transaction as the change. Bronze also records,
-- without a new version, what a batch did not match: columns it lacked (NULL for it), types narrower than the
-- table's (kept wide) and columns it brought under an old name (renamed). event: created | changed | rebuilt |
-- missing | narrower | renamed.
CREATE SEQUENCE IF NOT EXISTS refinery.schema_history_ids START 1;

CREATE TABLE IF NOT EXISTS refinery.schema_history (
  id            BIGINT NOT NULL, -- from refinery.schema_history_ids: the order entries were written in
  table_name    VARCHAR NOT NULL,
  version       INTEGER NOT NULL,
  event         VARCHAR NOT NULL,
  columns       VARCHAR NOT NULL, -- JSON: [{ name, type }] in table order
  changes       VARCHAR,          -- JSON: [{ kind, column, from, to }]
  input_columns VARCHAR,          -- JSON: what the table was built from (a gold model's output columns)
  reason        VARCHAR,
  batch_id      BIGINT,
  source_file   VARCHAR,
  run_id        BIGINT,
  recorded_at   TIMESTAMP NOT NULL
);

-- The columns each bronze batch arrived with (after renames), and their types: which rows carry a new column,
-- lack one, or came with a wider type is decided from this, the same way by an incremental run and a rebuild.
CREATE TABLE IF NOT EXISTS refinery.batch_columns (
  source       VARCHAR NOT NULL,
  batch_id     BIGINT NOT NULL,
  column_name  VARCHAR NOT NULL,
  column_type  VARCHAR NOT NULL,
  renamed_from VARCHAR
);

-- Tables published as Hive-partitioned Parquet: the settings and table version last published, and one row per
-- partition directory with a fingerprint of its rows, so a run rewrites only the partitions whose rows changed.
CREATE TABLE IF NOT EXISTS refinery.publications (
  table_name    VARCHAR NOT NULL,
  settings      VARCHAR NOT NULL,
  table_version VARCHAR NOT NULL,
  run_id        BIGINT,
  published_at  TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS refinery.published_partitions (
  table_name    VARCHAR NOT NULL,
  partition_key VARCHAR NOT NULL, -- JSON: the partition values as text, null for NULL
  directory     VARCHAR NOT NULL, -- relative to the publication path, e.g. order_month=2024-03-01
  fingerprint   VARCHAR NOT NULL,
  rows          BIGINT NOT NULL,
  run_id        BIGINT,
  written_at    TIMESTAMP NOT NULL
);
