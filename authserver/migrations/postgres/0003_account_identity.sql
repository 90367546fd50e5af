-- The account identity (issue 17): see ../sqlite/0003_account_identity.sql
-- for what each column holds. All four are NULL (version 0) until the
-- account's first device publishes it, and set together, once.
ALTER TABLE accounts ADD COLUMN account_key BYTEA;
ALTER TABLE accounts ADD COLUMN account_key_sealed BYTEA;
ALTER TABLE accounts ADD COLUMN account_devices BYTEA;
ALTER TABLE accounts ADD COLUMN account_devices_version BIGINT NOT NULL DEFAULT 0;
