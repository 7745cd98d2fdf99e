"""bot: consent refusal, outbox progress, clinician sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 19:58:58.935533
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clinician_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinician_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("proposed_text", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_clinician_sessions_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"], ["drafts.id"], name=op.f("fk_clinician_sessions_draft_id_drafts"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinician_sessions")),
        sa.UniqueConstraint("clinician_id", "chat_id", name="uq_clinician_sessions_who"),
    )
    with op.batch_alter_table("clinician_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clinician_sessions_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("progress", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refused_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_column("refused_at")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("progress")

    with op.batch_alter_table("clinician_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinician_sessions_case_id"))

    op.drop_table("clinician_sessions")
