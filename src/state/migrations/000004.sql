-- Database sources: what each extraction read (the load strategy), and the state that decides the next one
-- (watermarks, CDC positions), committed with the data.
ALTER TABLE refinery.batches ADD COLUMN IF NOT EXISTS load_kind VARCHAR DEFAULT 'files';

CREATE TABLE IF NOT EXISTS refinery.source_state (
  source     VARCHAR NOT NULL,
  name       VARCHAR NOT NULL,
  value      VARCHAR,
  updated_at TIMESTAMP NOT NULL
);
