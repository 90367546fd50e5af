-- 005: identity verification. verified_key is the fingerprint of the
-- contact's device identity the user verified (compared safety numbers);
-- key_changed is when the contact's device identity last changed from one
-- we knew (unix nanoseconds; 0: never), for the warning in the chat.
ALTER TABLE contacts ADD COLUMN verified_key BLOB;
ALTER TABLE contacts ADD COLUMN key_changed INTEGER NOT NULL DEFAULT 0;
