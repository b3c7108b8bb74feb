-- Foundation: secrets (keys generated on first start), API tokens, the UMA
-- nonce cache and small key/value settings.

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- API tokens: the id is the clientId; only an HMAC of the secret is kept.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    permissions TEXT NOT NULL,
    secret_hash BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    last_used_at BIGINT,
    deleted_at  BIGINT
);
CREATE INDEX api_tokens_name ON api_tokens (name);

-- Nonces seen in signed UMA messages, scoped by the signer's domain, kept
-- until their timestamp falls out of the accepted window.
CREATE TABLE uma_nonces (
    domain     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    signed_at  BIGINT NOT NULL,
    PRIMARY KEY (domain, nonce)
);
CREATE INDEX uma_nonces_signed_at ON uma_nonces (signed_at);
