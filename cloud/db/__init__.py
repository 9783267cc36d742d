"""Cloud database: ORM models, engine factory and Alembic migrations."""
