"""Who may do what: the one authorisation rule, and datasets' owners and collaborators.

Admins manage users and tokens and may write every dataset. Editors may write the datasets
they own or collaborate on (``dataset_members``); an import that creates a dataset makes its
user the owner. Owners (and admins) add and remove members. A token acts for its user; a
token with no user was made by the operator on the command line and acts as an admin
(`OPERATOR`), as the command line itself does.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from . import db
from .errors import BadRequest, Forbidden, NotFound, Unauthorized
from .language import N_
from .store import get_dataset, utcnow

ROLES = ("admin", "editor")
MEMBER_ROLES = ("owner", "collaborator")


@dataclasses.dataclass(frozen=True)
class Actor:
    """Someone acting on the service: a signed-in user, a token's user, or the operator.

    ``id`` is None only for the operator (command line, user-less tokens).
    """

    id: int | None
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


#: The command line and the user-less tokens it created: all-powerful.
OPERATOR = Actor(id=None, name="cli", role="admin")


def actor_from(row) -> Actor:
    """Return the Actor for a users row (a mapping with id, name, role)."""
    return Actor(id=row["id"], name=row["name"], role=row["role"])


def _member_role(conn: sa.Connection, actor: Actor, dataset_id: int) -> str | None:
    m = db.dataset_members.c
    return conn.execute(sa.select(m.role).where(m.dataset_id == dataset_id,
                                                m.user_id == actor.id)).scalar()


def can_write(conn: sa.Connection, actor: Actor | None, dataset: dict) -> bool:
    """Say whether actor may change this dataset (incidents, fields, state, imports).

    The one rule every write path goes through (`require_write`): admins always, editors
    when they own or collaborate on the dataset, nobody else.
    """
    if actor is None:
        return False
    if actor.is_admin:
        return True
    return actor.id is not None and _member_role(conn, actor, dataset["id"]) is not None


def require_write(conn: sa.Connection, actor: Actor | None, dataset: dict) -> None:
    """Raise Unauthorized (nobody signed in) or Forbidden unless actor may write dataset."""
    if actor is None:
        raise Unauthorized("sign in or send an API token to change datasets")
    if not can_write(conn, actor, dataset):
        raise Forbidden(f"you may not write dataset {dataset['slug']!r}: ask one of its "
                        "owners or an admin to add you as a collaborator",
                        details={"slug": dataset["slug"], "user": actor.name})


def check_import_target(conn: sa.Connection, actor: Actor | None, slug: str) -> dict | None:
    """Before reading an upload: the existing dataset actor may write, or None for a new one.

    Anyone signed in (or with a token) may create a dataset; the import then makes them its
    owner (`claim_import`).
    """
    if actor is None:
        raise Unauthorized("sign in or send an API token to import")
    row = conn.execute(sa.select(db.datasets).where(db.datasets.c.slug == slug)).mappings().first()
    if row is not None:
        require_write(conn, actor, dict(row))
    return dict(row) if row is not None else None


def claim_import(conn: sa.Connection, actor: Actor | None, dataset: dict, created: bool) -> None:
    """In the import's transaction: own the dataset it created, else require write access."""
    if created and actor is not None:
        add_owner(conn, dataset["id"], actor)
    else:
        require_write(conn, actor, dataset)


def can_see(conn: sa.Connection, actor: Actor | None, dataset: dict) -> bool:
    """Published datasets are public; drafts (and exact counts) are for whoever may write."""
    return bool(dataset["published"]) or can_write(conn, actor, dataset)


def visible_dataset(conn: sa.Connection, actor: Actor | None, slug: str) -> dict:
    """Return a dataset the actor may read, or raise `NotFound`.

    Published datasets are public and returned without asking who the actor is (public
    responses must not vary by cookie); a draft is for whoever may write it (`can_write`), and
    others get the same `NotFound` as for a slug that does not exist, so drafts stay unseen.
    """
    dataset = get_dataset(conn, slug)
    if dataset["published"] or can_write(conn, actor, dataset):
        return dataset
    raise _hidden(slug)


def visible_and_writable(conn: sa.Connection, actor: Actor | None, slug: str
                     ) -> tuple[dict, bool]:
    """`visible_dataset`, and whether the actor may write it (`can_write`, asked once): for
    answers that differ for writers (exact counts, full downloads)."""
    dataset = get_dataset(conn, slug)
    may_write = can_write(conn, actor, dataset)
    if dataset["published"] or may_write:
        return dataset, may_write
    raise _hidden(slug)


def _hidden(slug: str) -> NotFound:
    """The answer for another's draft: the same as for a slug that does not exist."""
    return NotFound(f"no dataset {slug!r}", details={"slug": slug},
                    translatable=(N_("no dataset %(slug)s"), {"slug": repr(slug)}))


def can_manage_members(conn: sa.Connection, actor: Actor | None, dataset: dict) -> bool:
    """Admins and the dataset's owners add and remove its members."""
    if actor is None:
        return False
    return actor.is_admin or (actor.id is not None
                              and _member_role(conn, actor, dataset["id"]) == "owner")


def can_delete(conn: sa.Connection, actor: Actor | None, dataset: dict) -> bool:
    """Admins and the dataset's owners delete it (collaborators write, but do not delete)."""
    return can_manage_members(conn, actor, dataset)


def require_delete(conn: sa.Connection, actor: Actor | None, dataset: dict) -> None:
    """Raise Unauthorized (nobody signed in) or Forbidden unless actor may delete dataset."""
    if actor is None:
        raise Unauthorized("sign in or send an API token to delete datasets")
    if not can_delete(conn, actor, dataset):
        raise Forbidden(f"only owners of dataset {dataset['slug']!r} and admins may delete it",
                        details={"slug": dataset["slug"], "user": actor.name})


def require_admin(actor: Actor | None) -> None:
    """Raise Forbidden unless actor is an admin (user management, everyone's tokens)."""
    if actor is None or not actor.is_admin:
        raise Forbidden("only admins may do this")


def writable_ids(conn: sa.Connection, actor: Actor | None) -> set[int] | None:
    """Return the ids of the datasets actor may write, or None meaning all of them."""
    if actor is not None and actor.is_admin:
        return None
    if actor is None or actor.id is None:
        return set()
    m = db.dataset_members.c
    return set(conn.execute(sa.select(m.dataset_id).where(m.user_id == actor.id)).scalars())


def writable(conn: sa.Connection, actor: Actor | None, datasets: list[dict]) -> list[dict]:
    """Keep the datasets actor may write (admins: all), in their order."""
    ids = writable_ids(conn, actor)
    return datasets if ids is None else [d for d in datasets if d["id"] in ids]


# --- members ----------------------------------------------------------------------------------

def _user_id(conn: sa.Connection, user_name: str) -> int:
    user_id = conn.execute(sa.select(db.users.c.id)
                           .where(db.users.c.name == (user_name or "").strip())).scalar()
    if user_id is None:
        raise NotFound(f"no user {user_name!r}")
    return user_id


def _dataset(conn: sa.Connection, slug: str) -> dict:
    row = conn.execute(sa.select(db.datasets).where(db.datasets.c.slug == slug)).mappings().first()
    if row is None:
        raise NotFound(f"no dataset {slug!r}", details={"slug": slug},
                       translatable=(N_("no dataset %(slug)s"), {"slug": repr(slug)}))
    return dict(row)


def add_owner(conn: sa.Connection, dataset_id: int, actor: Actor) -> None:
    """Make the actor who created a dataset its owner (the operator owns nothing)."""
    if actor.id is not None:
        conn.execute(sa.insert(db.dataset_members).values(
            dataset_id=dataset_id, user_id=actor.id, role="owner", created_at=utcnow()))


def set_member(conn: sa.Connection, actor: Actor, slug: str, user_name: str,
               role: str = "collaborator") -> None:
    """Add user_name to the dataset as owner or collaborator (or change their role).

    Raises Forbidden unless actor is an admin or an owner of the dataset.
    """
    if role not in MEMBER_ROLES:
        raise BadRequest(f"member role must be one of {', '.join(MEMBER_ROLES)}",
                         details={"role": role})
    dataset = _dataset(conn, slug)
    _require_manager(conn, actor, dataset)
    user_id = _user_id(conn, user_name)
    m = db.dataset_members.c
    changed = conn.execute(sa.update(db.dataset_members)
                           .where(m.dataset_id == dataset["id"], m.user_id == user_id)
                           .values(role=role)).rowcount
    if not changed:
        conn.execute(sa.insert(db.dataset_members).values(
            dataset_id=dataset["id"], user_id=user_id, role=role, created_at=utcnow()))


def remove_member(conn: sa.Connection, actor: Actor, slug: str, user_name: str) -> None:
    """Remove user_name from the dataset's owners and collaborators (NotFound if not one)."""
    dataset = _dataset(conn, slug)
    _require_manager(conn, actor, dataset)
    user_id = _user_id(conn, user_name)
    m = db.dataset_members.c
    if not conn.execute(sa.delete(db.dataset_members).where(
            m.dataset_id == dataset["id"], m.user_id == user_id)).rowcount:
        raise NotFound(f"{user_name!r} is not a member of dataset {slug!r}")


def list_members(conn: sa.Connection, dataset_id: int) -> list[dict]:
    """Return the dataset's members (user_name, role), owners first."""
    m, u = db.dataset_members.c, db.users.c
    rows = conn.execute(sa.select(u.name.label("user_name"), m.role)
                        .select_from(db.dataset_members.join(db.users, u.id == m.user_id))
                        .where(m.dataset_id == dataset_id)
                        .order_by(m.role.desc(), u.name)).mappings()
    return [dict(r) for r in rows]


def _require_manager(conn: sa.Connection, actor: Actor, dataset: dict) -> None:
    if not can_manage_members(conn, actor, dataset):
        raise Forbidden(f"only owners of dataset {dataset['slug']!r} and admins may change "
                        "its members", details={"slug": dataset["slug"]})
