-- A person's time zone is NULL until it is chosen: the console takes it
-- from the browser at sign-in while it is unset (issue 20), and never
-- overrides one the person chose on their profile. Readers show UTC for
-- NULL. Every 'UTC' so far is 0041's default rather than a choice (the
-- profile that could choose it came with 0041), so it becomes unset.
ALTER TABLE users ALTER COLUMN time_zone DROP NOT NULL, ALTER COLUMN time_zone DROP DEFAULT;
UPDATE users SET time_zone = NULL WHERE time_zone = 'UTC';
