"""Flask extensions, created unbound; ``create_app`` binds them. Imports nothing from taper."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose constraints all have names (Alembic batch mode needs them)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# One session per request: objects stay loaded after the request's commit, so a page that
# commits its audit row and then renders does not reload every row it shows.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# remote_addr is the client as seen after ProxyFix (PROXY_COUNT), never a raw header.
# With Redis as the storage (several app servers), a Redis that is down or slow must not
# take login down: storage errors come wrapped as limits' StorageError after half a second at
# most, and the decorated limits fall back to counting in this process's memory until Redis
# answers again (taper/auth/throttle.py does the same for the password counts).
limiter = Limiter(
    key_func=get_remote_address,
    in_memory_fallback_enabled=True,
    storage_options={
        "wrap_exceptions": True,
        "socket_timeout": 0.5,
        "socket_connect_timeout": 0.5,
    },
)
