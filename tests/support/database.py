"""The test database as a DATABASE_URL, for servers the tests start in other processes."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings


def database_url() -> str:
    """`DATABASE_URL` naming the database the tests use right now (call it after setup)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    if "postgresql" in db["ENGINE"]:
        credentials = ""
        if db.get("USER"):
            credentials = quote(db["USER"], safe="")
            if db.get("PASSWORD"):
                credentials += ":" + quote(db["PASSWORD"], safe="")
            credentials += "@"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{credentials}{db.get('HOST') or 'localhost'}{port}/{db['NAME']}"
    raise NotImplementedError(f"no URL form for {db['ENGINE']}")
