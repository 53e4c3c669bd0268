-- Orchestration: what triggered a run, which steps it selected, and every attempt of every step.
ALTER TABLE refinery.runs ADD COLUMN IF NOT EXISTS trigger VARCHAR DEFAULT 'manual';
ALTER TABLE refinery.runs ADD COLUMN IF NOT EXISTS selection VARCHAR;
ALTER TABLE refinery.runs ADD COLUMN IF NOT EXISTS resumes_run_id BIGINT;
ALTER TABLE refinery.steps ADD COLUMN IF NOT EXISTS attempts INTEGER DEFAULT 1;

-- One row per failed attempt (the final, successful attempt is the step record itself).
CREATE TABLE IF NOT EXISTS refinery.attempts (
  run_id          BIGINT NOT NULL,
  step            VARCHAR NOT NULL,
  attempt         INTEGER NOT NULL,
  started_at      TIMESTAMP NOT NULL,
  ended_at        TIMESTAMP NOT NULL,
  status          VARCHAR NOT NULL,
  retryable       BOOLEAN,
  classification  VARCHAR,
  error           VARCHAR,
  next_attempt_at TIMESTAMP
);
