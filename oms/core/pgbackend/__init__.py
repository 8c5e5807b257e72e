"""Django's PostgreSQL backend with a cheaper health check and our own cursors (see ``base``)."""
