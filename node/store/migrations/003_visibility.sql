-- 003: visibility tokens. my_token is the secret we gave the contact (our
-- record is shown at our homes to its holder only); their_token is the one
-- the contact gave us, to look its record up.
ALTER TABLE contacts ADD COLUMN my_token BLOB;
ALTER TABLE contacts ADD COLUMN their_token BLOB;
