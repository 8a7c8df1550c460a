"""Persistence: the SQL schema, engines for SQLite and PostgreSQL (db.py), and migrations applied at
start (migrate.py); the Redis client and its scripts. Import the module you need: the package itself
loads nothing, so a gateway with Redis and no database does not carry SQLAlchemy."""
