-- The service: alerts sent, and when each schedule last fired (for catch-up after a restart).
CREATE TABLE IF NOT EXISTS refinery.alerts (
  sent_at   TIMESTAMP NOT NULL,
  kind      VARCHAR NOT NULL,
  run_id    BIGINT,
  subject   VARCHAR NOT NULL,
  text      VARCHAR NOT NULL,
  channels  VARCHAR NOT NULL -- JSON: each channel and whether delivery worked
);

CREATE TABLE IF NOT EXISTS refinery.schedule_fires (
  schedule  VARCHAR NOT NULL,
  fire_time TIMESTAMP NOT NULL,
  fired_at  TIMESTAMP NOT NULL,
  run_id    BIGINT,
  outcome   VARCHAR NOT NULL -- started | skipped_overlap | queued
);
