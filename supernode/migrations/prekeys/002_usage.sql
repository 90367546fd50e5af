-- 002: what all entries together take, kept by triggers in the same
-- transaction as every write (one-time prekeys deleted with their device by
-- ON DELETE CASCADE fire their delete trigger too), for the global cap.
CREATE TABLE prekey_usage (
	id            INTEGER PRIMARY KEY CHECK (id = 1),
	devices       INTEGER NOT NULL,
	bundle_bytes  INTEGER NOT NULL,
	onetime       INTEGER NOT NULL,
	onetime_bytes INTEGER NOT NULL
);
INSERT INTO prekey_usage (id, devices, bundle_bytes, onetime, onetime_bytes) SELECT 1,
	(SELECT count(*) FROM prekey_devices), (SELECT coalesce(sum(length(bundle)), 0) FROM prekey_devices),
	(SELECT count(*) FROM prekey_onetime), (SELECT coalesce(sum(length(key)), 0) FROM prekey_onetime);

CREATE TRIGGER prekey_usage_device_insert AFTER INSERT ON prekey_devices BEGIN
	UPDATE prekey_usage SET devices = devices + 1, bundle_bytes = bundle_bytes + length(NEW.bundle) WHERE id = 1;
END;
CREATE TRIGGER prekey_usage_device_update AFTER UPDATE OF bundle ON prekey_devices BEGIN
	UPDATE prekey_usage SET bundle_bytes = bundle_bytes - length(OLD.bundle) + length(NEW.bundle) WHERE id = 1;
END;
CREATE TRIGGER prekey_usage_device_delete AFTER DELETE ON prekey_devices BEGIN
	UPDATE prekey_usage SET devices = devices - 1, bundle_bytes = bundle_bytes - length(OLD.bundle) WHERE id = 1;
END;
CREATE TRIGGER prekey_usage_onetime_insert AFTER INSERT ON prekey_onetime BEGIN
	UPDATE prekey_usage SET onetime = onetime + 1, onetime_bytes = onetime_bytes + length(NEW.key) WHERE id = 1;
END;
CREATE TRIGGER prekey_usage_onetime_delete AFTER DELETE ON prekey_onetime BEGIN
	UPDATE prekey_usage SET onetime = onetime - 1, onetime_bytes = onetime_bytes - length(OLD.key) WHERE id = 1;
END;
