"""privacy: training consent, model taint, training run cases, pseudonymised audit

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("training_consent", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("training_consent_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("tainted_at", sa.DateTime(), nullable=True))
    op.create_table(
        "training_run_cases",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["training_runs.id"],
            name=op.f("fk_training_run_cases_run_id_training_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "case_id", name=op.f("pk_training_run_cases")),
    )
    op.create_index(op.f("ix_training_run_cases_case_id"), "training_run_cases", ["case_id"], unique=False)
    op.create_table(
        "case_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("clinician_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_audit")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_case_audit_case_key"), "case_audit", ["case_key"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_case_audit_case_key"), table_name="case_audit")
    op.drop_table("case_audit")
    op.drop_index(op.f("ix_training_run_cases_case_id"), table_name="training_run_cases")
    op.drop_table("training_run_cases")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("tainted_at")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("training_consent_at")
        batch.drop_column("training_consent")
