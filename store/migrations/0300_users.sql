-- Users of this VASP (package users). The UMA address is stored as its
-- normalised local part ("alice" for $alice@our.domain), unique among live
-- users only, so a deleted user's address can be given to someone new.
-- Personal data (name, address, bank account) is one JSON document: it is
-- read and written whole and never queried.

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    platform_user_id     TEXT NOT NULL,
    user_type            TEXT NOT NULL,
    uma_local            TEXT NOT NULL,
    kyc_status           TEXT NOT NULL,
    preferred_currencies TEXT NOT NULL,
    profile              TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    deleted_at           BIGINT
);
CREATE UNIQUE INDEX users_uma_local_live ON users (uma_local) WHERE deleted_at IS NULL;
CREATE INDEX users_platform_user_id ON users (platform_user_id);
CREATE INDEX users_created_at ON users (created_at);
