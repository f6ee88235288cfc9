"""The dedupe record: one row per (source, webhook id), in ingest's own schema ``ingest``.

Revision ID: 0001
Revises:

Every statement is ``IF NOT EXISTS`` on purpose. Before this revision, ingest created exactly this table
and index itself at start-up; on a database that already has them this revision changes nothing and
Alembic records it as applied, so an existing dedupe record carries on without a manual stamp.
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS ingest.deliveries (
            source        text        NOT NULL,
            webhook_id    text        NOT NULL,
            body_sha256   bytea       NOT NULL,
            claim_token   uuid        NOT NULL,
            lease_until   timestamptz NOT NULL,
            first_seen    timestamptz NOT NULL DEFAULT clock_timestamp(),
            published_at  timestamptz,
            PRIMARY KEY (source, webhook_id)
        )
        """
    )
    op.execute("CREATE INDEX IF NOT EXISTS deliveries_first_seen ON ingest.deliveries (first_seen)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ingest.deliveries")
