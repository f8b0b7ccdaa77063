"""two-step secrets at rest: TOTP secrets encrypted, recovery codes under Argon2id

- two_factor.secret (base32 in clear) becomes two_factor.encrypted_secret: a Fernet token under
  the first key of TWO_STEP_KEYS (in development and tests, when that is empty, the key HKDF
  derives from SECRET_KEY, as taper/services/twofactor.py does).
- two_factor.recovery_hashes: each old SHA-256 hex digest becomes
  ``{"prefix": null, "hash": argon2id(digest)}``, so no fast hash is left in the database and
  the codes people already keep still work (once each). New codes carry a lookup prefix.
- two_factor_setup: a secret being set up, kept here (encrypted) instead of in the session.
- two_factor.version: each use of a code is a compare-and-swap on it, so a code sent twice
  at once signs in once, on SQLite too.

Downgrading decrypts the secrets back into ``secret`` (it stops if a secret cannot be decrypted
with the configured keys, rather than lose it) and empties the recovery codes: an Argon2id hash
cannot be turned back into the SHA-256 the old code compares. Two-step login stays on; whoever
needs recovery codes after a downgrade turns two-step login off and on again.

The keys come from the app's configuration (migrations run inside ``flask db``), so run this
with the same TWO_STEP_KEYS (or, in development, the same SECRET_KEY) as the app.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 08:00:00

"""

import base64

import sqlalchemy as sa
from alembic import op
from argon2 import PasswordHasher
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# A copy of taper.services.twofactor's key rules as they were when this migration was written:
# migrations never import the app, so later changes there cannot alter what this one did.
DERIVED_KEY_INFO = b"taper two-step secrets at rest"

two_factor = sa.table(
    "two_factor",
    sa.column("user_id", sa.Integer),
    sa.column("secret", sa.String),
    sa.column("encrypted_secret", sa.Text),
    sa.column("recovery_hashes", sa.JSON),
)


def _cipher() -> MultiFernet:
    config = current_app.config
    value = config.get("TWO_STEP_KEYS") or ""
    keys = [key.strip() for key in (value.split(",") if isinstance(value, str) else value)]
    keys = [key for key in keys if key]
    if not keys:
        if not config.get("TWO_STEP_KEY_FROM_SECRET_KEY") or not config.get("SECRET_KEY"):
            raise RuntimeError("TWO_STEP_KEYS is not set: two-step secrets cannot be encrypted")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DERIVED_KEY_INFO)
        keys = [base64.urlsafe_b64encode(hkdf.derive(config["SECRET_KEY"].encode())).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def _rows(*columns):
    return op.get_bind().execute(sa.select(*columns)).all()


def upgrade():
    # Everything is encrypted and hashed before the first schema change, so a missing key
    # stops the migration with the database untouched (SQLite does not roll DDL back).
    rows = _rows(two_factor.c.user_id, two_factor.c.secret, two_factor.c.recovery_hashes)
    if rows:
        cipher = _cipher()
        # OWASP's minimum Argon2id cost: the old codes hold 48 random bits.
        hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
        rows = [
            (
                user_id,
                cipher.encrypt(secret.encode()).decode(),
                [{"prefix": None, "hash": hasher.hash(digest)} for digest in digests or []],
            )
            for user_id, secret, digests in rows
        ]

    op.create_table(
        "two_factor_setup",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_two_factor_setup_user_id_user")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_two_factor_setup")),
    )
    with op.batch_alter_table("two_factor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("encrypted_secret", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
    for user_id, token, entries in rows:
        op.get_bind().execute(
            two_factor.update()
            .where(two_factor.c.user_id == user_id)
            .values(encrypted_secret=token, recovery_hashes=entries)
        )
    with op.batch_alter_table("two_factor", schema=None) as batch_op:
        batch_op.alter_column("encrypted_secret", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("version", existing_type=sa.Integer(), server_default=None)
        batch_op.drop_column("secret")


def downgrade():
    # Every secret is decrypted before the first schema change: one that no configured key
    # opens stops the downgrade with the database untouched, rather than lose it.
    rows = _rows(two_factor.c.user_id, two_factor.c.encrypted_secret)
    if rows:
        cipher = _cipher()
        secrets = []
        for user_id, token in rows:
            try:
                secrets.append((user_id, cipher.decrypt(token.encode()).decode()))
            except InvalidToken:
                raise RuntimeError(
                    f"The two-step secret of user {user_id} cannot be decrypted with the "
                    "configured keys: set TWO_STEP_KEYS (or SECRET_KEY) as the app had it"
                ) from None
        rows = secrets

    with op.batch_alter_table("two_factor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret", sa.String(length=64), nullable=True))
    for user_id, secret in rows:
        op.get_bind().execute(
            two_factor.update()
            .where(two_factor.c.user_id == user_id)
            .values(secret=secret, recovery_hashes=[])
        )
    with op.batch_alter_table("two_factor", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("encrypted_secret")
        batch_op.drop_column("version")
    op.drop_table("two_factor_setup")
