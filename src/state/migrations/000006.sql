-- Landing files: the size and modification time seen with each content hash (an unchanged file is recognised
-- without reading it again), and the parse settings it was read with (new settings mean reading it again).
ALTER TABLE refinery.files ADD COLUMN IF NOT EXISTS size_bytes BIGINT;
ALTER TABLE refinery.files ADD COLUMN IF NOT EXISTS mtime_ms DOUBLE;
ALTER TABLE refinery.files ADD COLUMN IF NOT EXISTS settings VARCHAR;
