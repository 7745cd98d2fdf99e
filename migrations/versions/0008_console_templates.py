"""console: clinicians' canned reply templates

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reply_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinician_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_templates")),
        sa.UniqueConstraint("clinician_id", "name", name="uq_reply_templates_name"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_reply_templates_clinician_id"), "reply_templates", ["clinician_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reply_templates_clinician_id"), table_name="reply_templates")
    op.drop_table("reply_templates")
