"""structured intake: the closed questions' answers per case

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        # The answers in the challenge's JSON shape, and the questions' state (resumed after a restart).
        batch.add_column(sa.Column("closed_qa", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("questionnaire", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("questionnaire")
        batch.drop_column("closed_qa")
