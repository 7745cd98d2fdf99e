"""Alembic migrations of the DermBot database (``dermbot migrate`` or ``alembic upgrade head``)."""
