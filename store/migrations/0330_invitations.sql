-- UMA invitations (UMAaaS /invitations): a user of this VASP invites
-- someone to open an UMA account, optionally promising an amount the
-- platform pays once the invitation is claimed. Nothing is escrowed.
-- status is PENDING, CLAIMED or CANCELLED; EXPIRED is derived from
-- expires_at when read, so no job has to flip it.
CREATE TABLE invitations (
    code            TEXT PRIMARY KEY,
    inviter_user_id TEXT NOT NULL,
    inviter_local   TEXT NOT NULL,        -- the inviter's address when invited
    first_name      TEXT NOT NULL,
    amount          BIGINT NOT NULL,      -- smallest unit of currency; 0 = none
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL,
    invitee_uma     TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    claimed_at      BIGINT,
    expires_at      BIGINT                -- NULL: never
);
CREATE INDEX invitations_inviter ON invitations (inviter_user_id, created_at);
