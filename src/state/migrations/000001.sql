-- Refinery state, kept beside the data it describes and committed in the same transactions.
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE SCHEMA IF NOT EXISTS silver;
CREATE SCHEMA IF NOT EXISTS gold;
CREATE SCHEMA IF NOT EXISTS quarantine;

CREATE SEQUENCE IF NOT EXISTS refinery.run_ids START 1;
CREATE SEQUENCE IF NOT EXISTS refinery.batch_ids START 1;

-- One row per `refinery run`. status: running | success | failed | interrupted.
CREATE TABLE IF NOT EXISTS refinery.runs (
  run_id       BIGINT NOT NULL,
  project      VARCHAR NOT NULL,
  status       VARCHAR NOT NULL,
  started_at   TIMESTAMP NOT NULL,
  ended_at     TIMESTAMP,
  full_refresh BOOLEAN NOT NULL DEFAULT FALSE,
  pid          INTEGER,
  error        VARCHAR
);

-- One row per step of a run, inserted in the same transaction as the step's data.
-- status: success | skipped | failed.
CREATE TABLE IF NOT EXISTS refinery.steps (
  run_id           BIGINT NOT NULL,
  step             VARCHAR NOT NULL,
  kind             VARCHAR NOT NULL,
  status           VARCHAR NOT NULL,
  started_at       TIMESTAMP NOT NULL,
  ended_at         TIMESTAMP NOT NULL,
  duration_ms      DOUBLE NOT NULL,
  rows_in          BIGINT NOT NULL DEFAULT 0,
  rows_written     BIGINT NOT NULL DEFAULT 0,
  rows_quarantined BIGINT NOT NULL DEFAULT 0,
  rows_superseded  BIGINT NOT NULL DEFAULT 0,
  rows_warned      BIGINT NOT NULL DEFAULT 0,
  message          VARCHAR,
  details          VARCHAR -- JSON: quarantined by reason, warnings by check, files
);

-- One batch per ingested landing file.
CREATE TABLE IF NOT EXISTS refinery.batches (
  batch_id      BIGINT NOT NULL,
  source        VARCHAR NOT NULL,
  path          VARCHAR NOT NULL,
  content_hash  VARCHAR NOT NULL,
  size_bytes    BIGINT NOT NULL,
  rows          BIGINT NOT NULL,
  rejected_rows BIGINT NOT NULL,
  run_id        BIGINT NOT NULL,
  ingested_at   TIMESTAMP NOT NULL,
  previous_batch_id BIGINT -- the batch this path held before its content changed
);

-- Every landing file version seen: ingested (with its batch) or refused (with the reason).
CREATE TABLE IF NOT EXISTS refinery.files (
  source       VARCHAR NOT NULL,
  path         VARCHAR NOT NULL,
  content_hash VARCHAR NOT NULL,
  status       VARCHAR NOT NULL,
  batch_id     BIGINT,
  run_id       BIGINT NOT NULL,
  seen_at      TIMESTAMP NOT NULL,
  reason       VARCHAR
);

-- What each silver/gold table was last built from: the rules' fingerprint, the bronze batches consumed,
-- and the versions of the tables it reads. A table whose inputs did not change is not rebuilt.
CREATE TABLE IF NOT EXISTS refinery.tables (
  table_name    VARCHAR NOT NULL,
  fingerprint   VARCHAR NOT NULL,
  last_batch_id BIGINT NOT NULL DEFAULT 0,
  inputs        VARCHAR NOT NULL,
  version       BIGINT NOT NULL,
  built_at      TIMESTAMP NOT NULL
);
