"""safety checks: planted faulty drafts (canaries) and their outcomes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 13:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "safety_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("canary_id", sa.String(length=64), nullable=False),
        sa.Column("list_version", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("planted_text", sa.Text(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("clinician_id", sa.BigInteger(), nullable=True),
        sa.Column("post_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("post_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_safety_checks_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"], ["drafts.id"], name=op.f("fk_safety_checks_draft_id_drafts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_checks")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_safety_checks_case_id"), "safety_checks", ["case_id"], unique=False)
    op.create_index(op.f("ix_safety_checks_outcome"), "safety_checks", ["outcome"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_safety_checks_outcome"), table_name="safety_checks")
    op.drop_index(op.f("ix_safety_checks_case_id"), table_name="safety_checks")
    op.drop_table("safety_checks")
