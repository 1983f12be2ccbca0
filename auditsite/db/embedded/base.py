"""PostgreSQL (Django's own backend) on the embedded server of ``auditsite.embedded``.

Settings name this engine only when ``DATABASE_URL`` is unset (local and test settings): the
server starts when this process first connects, not when settings are imported, so a command
that never touches the database starts nothing.
"""

from django.db.backends.postgresql import base

from auditsite import embedded


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL backend, starting the embedded server before the first connection."""

    def get_new_connection(self, conn_params):
        embedded.postgres_ensure()
        return super().get_new_connection(conn_params)
