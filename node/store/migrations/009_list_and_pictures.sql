-- 009: the contact list as the user arranges it (a group and a name of
-- their own for each contact, never sent anywhere), the display picture a
-- contact advertises (hex SHA-256 of its PNG; the picture itself is a file
-- in the profile's picture cache), and which transfers carry display
-- pictures rather than files the user sees, and previews of image files.
ALTER TABLE contacts ADD COLUMN grp TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN alias TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN avatar TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN kind TEXT NOT NULL DEFAULT 'file' CHECK (kind IN ('file', 'avatar'));
-- thumbnail: the preview of an image file that came with its offer (a small
-- JPEG, shown beside the offer).
ALTER TABLE transfers ADD COLUMN thumbnail BLOB;
