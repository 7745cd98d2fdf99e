"""training: one row per learning-loop run

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("new_cases", sa.Integer(), nullable=False),
        sa.Column("train_size", sa.Integer(), nullable=False),
        sa.Column("heldout_size", sa.Integer(), nullable=False),
        sa.Column("candidate_model_id", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("report_dir", sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_model_id"],
            ["models.id"],
            name=op.f("fk_training_runs_candidate_model_id_models"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_runs")),
    )


def downgrade() -> None:
    op.drop_table("training_runs")
