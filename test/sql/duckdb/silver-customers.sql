WITH src AS (
  SELECT * FROM "bronze"."customers" WHERE _batch_id > 0 AND _batch_id <= 9
), cleaned AS (
  SELECT "_batch_id",
    "_source_file",
    "_source_row",
    "_ingested_at",
    "_row_hash",
    "_load_error",
    "_raw_line",
    CAST(NULL AS VARCHAR) AS _op,
    "customer_id" AS "__raw__customer_id",
    "name" AS "__raw__name",
    "email" AS "__raw__email",
    "phone" AS "__raw__phone",
    "country" AS "__raw__country",
    "status" AS "__raw__status",
    "signup_date" AS "__raw__signup_date",
    "updated_at" AS "__raw__updated_at",
    NULLIF(trim("customer_id", ' ' || chr(9) || chr(10) || chr(13) || chr(160)), '') AS "__clean__customer_id",
    NULLIF(lower(trim("email", ' ' || chr(9) || chr(10) || chr(13) || chr(160))), '') AS "__clean__email",
    NULLIF(lower(trim("status", ' ' || chr(9) || chr(10) || chr(13) || chr(160))), '') AS "__clean__status",
    NULLIF(array_to_string(list_transform(regexp_extract_all(regexp_replace(trim("name", ' ' || chr(9) || chr(10) || chr(13) || chr(160)), '\s+', ' ', 'g'), '[^ \-'']+|[ \-'']'), lambda w: upper(w[1]) || lower(w[2:])), ''), '') AS "__clean__name",
    NULLIF(NULLIF(CASE WHEN regexp_full_match("phone", '\s*\+.*') THEN '+' ELSE '' END || regexp_replace("phone", '[^0-9]', '', 'g'), '+'), '') AS "__clean__phone",
    NULLIF(upper(trim("country", ' ' || chr(9) || chr(10) || chr(13) || chr(160))), '') AS "__clean__country",
    NULLIF(trim("signup_date", ' ' || chr(9) || chr(10) || chr(13) || chr(160)), '') AS "__clean__signup_date",
    NULLIF(trim("updated_at", ' ' || chr(9) || chr(10) || chr(13) || chr(160)), '') AS "__clean__updated_at"
  FROM src
), typed AS (
  SELECT *, CASE WHEN regexp_full_match("__clean__customer_id", '[+-]?[0-9]+') THEN TRY_CAST("__clean__customer_id" AS BIGINT) END AS "customer_id",
    "__clean__email" AS "email",
    "__clean__status" AS "status",
    "__clean__name" AS "name",
    "__clean__phone" AS "phone",
    "__clean__country" AS "country",
    COALESCE(CAST(TRY_STRPTIME("__clean__signup_date", '%Y-%m-%d') AS DATE), CAST(TRY_STRPTIME("__clean__signup_date", '%d/%m/%Y') AS DATE)) AS "signup_date",
    CASE WHEN regexp_full_match("__clean__updated_at", '.*[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)? ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)') THEN TRY_CAST("__clean__updated_at" AS TIMESTAMPTZ) AT TIME ZONE 'UTC' ELSE TRY_CAST("__clean__updated_at" AS TIMESTAMP) END AS "updated_at"
  FROM cleaned
), checked AS (
  SELECT *,
    CASE WHEN _op = 'delete' THEN NULL
      WHEN _load_error IS NOT NULL THEN 0
      WHEN NOT coalesce("customer_id" >= 1, FALSE) THEN 1
      WHEN NOT coalesce(regexp_full_match("email", '^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$'), FALSE) THEN 2
      WHEN NOT coalesce("status" IN ('active', 'inactive', 'suspended', 'pending'), FALSE) THEN 3 END AS "__first_failure"
  FROM typed
)
SELECT "_batch_id", "_source_file", "_source_row", "_ingested_at", "_row_hash", "_load_error", "_raw_line", _op, "__raw__customer_id", "__raw__name", "__raw__email", "__raw__phone", "__raw__country", "__raw__status", "__raw__signup_date", "__raw__updated_at", "customer_id", "email", "status", "name", "phone", "country", "signup_date", "updated_at",
  CASE "__first_failure" WHEN 0 THEN 'malformed_row'
    WHEN 1 THEN 'invalid_customer_id'
    WHEN 2 THEN 'invalid_email'
    WHEN 3 THEN 'invalid_status' END AS _reason,
  CASE "__first_failure" WHEN 0 THEN _load_error
    WHEN 1 THEN 'customer_id ' || coalesce('''' || "__clean__customer_id" || '''', '(empty)') || ' must be a whole number ≥ 1'
    WHEN 2 THEN 'email ' || coalesce('''' || "__clean__email" || '''', '(empty)') || ' must match ^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$'
    WHEN 3 THEN 'status ' || coalesce('''' || "__clean__status" || '''', '(empty)') || ' must be one of active, inactive, suspended, pending' END AS _detail,
  coalesce(("__clean__signup_date" IS NULL OR "signup_date" IS NOT NULL), FALSE) AS "__warn__unparsed_signup_date"
FROM checked
