"""Who is asking: workspaces and the teacher, and where each one's models live.

In ``local`` mode there is one user, with no workspace (``Actor.workspace is None``), whose
models live directly in the user-models folder, as before. In ``classroom`` mode every browser
has its own unguessable workspace id; a student's models live in ``USER_MODELS/ws-ID/`` and the
models the teacher published to the class in ``USER_MODELS/class/``. ``public`` mode trains
nothing. Shipped model names are reserved everywhere. No Streamlit here: ``ui.state`` finds
the session's :class:`Actor`, and the services check it.
"""
from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from vae import settings

WORKSPACE_RE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
CLASS_DIR = "class"
WORKSPACE_PREFIX = "ws-"


class AccessError(PermissionError):
    """An actor asked for something that belongs to someone else; the message says what."""


@dataclass(frozen=True)
class Actor:
    """The person behind a request: their ``workspace`` (None: the single local user) and
    whether they have entered the teacher's token."""

    workspace: str | None = None
    teacher: bool = False

    def __post_init__(self) -> None:
        if self.workspace is not None and not valid_workspace_id(self.workspace):
            raise ValueError("invalid workspace id")

    def owns(self, owner: str | None) -> bool:
        """True when this actor may change something owned by ``owner`` (a workspace id or None)."""
        return self.teacher or owner == self.workspace


LOCAL = Actor()


def new_workspace_id() -> str:
    """An unguessable id (128 bits, URL-safe base64): 22 characters."""
    return secrets.token_urlsafe(16)


def valid_workspace_id(value: object) -> bool:
    return isinstance(value, str) and bool(WORKSPACE_RE.fullmatch(value))


def is_teacher_token(candidate: object, environ=None) -> bool:
    """Constant-time check of ``candidate`` against ``$VAE_TEACHER_TOKEN`` (False when unset)."""
    token = settings.teacher_token(environ)
    return bool(token) and isinstance(candidate, str) and hmac.compare_digest(candidate.encode(), token.encode())


def models_dir_for(actor: Actor, root: Path | None = None) -> Path:
    """Where ``actor``'s own models are saved: the user-models folder itself for the local user,
    ``ws-ID/`` inside it for a classroom workspace."""
    root = Path(root) if root is not None else settings.user_models_dir()
    return root if actor.workspace is None else root / f"{WORKSPACE_PREFIX}{actor.workspace}"


def class_dir(root: Path | None = None) -> Path:
    """Models the teacher published to the class."""
    return (Path(root) if root is not None else settings.user_models_dir()) / CLASS_DIR


def owner_of(model_dir: Path, root: Path | None = None) -> str | None:
    """The workspace id a user model folder belongs to (None: the local user's or the class's)."""
    root = Path(root) if root is not None else settings.user_models_dir()
    try:
        parent = Path(model_dir).resolve().parent.relative_to(root.resolve())
    except ValueError:
        return None
    name = parent.as_posix()
    return name[len(WORKSPACE_PREFIX):] if name.startswith(WORKSPACE_PREFIX) else None


def reserved_names() -> set[str]:
    """Names nobody may give a trained model: the shipped models', and the folders this module uses."""
    from services.catalog import SHIPPED_DIR

    shipped = {p.name for p in SHIPPED_DIR.iterdir() if p.is_dir()} if SHIPPED_DIR.is_dir() else set()
    return shipped | {CLASS_DIR}


__all__ = ["LOCAL", "AccessError", "Actor", "class_dir", "is_teacher_token", "models_dir_for", "new_workspace_id",
           "owner_of", "reserved_names", "valid_workspace_id"]
