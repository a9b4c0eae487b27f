"""What users hang on a PostgreSQL table, kept across the swap: owner, grants, comments, row-level security.

The swap drops the live table and renames the staging table into its place (one transaction), so
everything attached to the old table by its OID would go with it. ``read`` takes it down before
the drop, ``restore_sql`` puts it back on the new table. Views cannot be carried over that way (a
view is bound to the old table's OID, and recreating it needs its owner's rights):
``dependent_views`` finds them before any data moves, so the run fails naming them instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pg8000.native import Connection, literal  # COMMENT takes no parameter: pg8000 renders it

from include.replication.models import TableName
from include.replication.postgres.dialect import qualified, quote

_OWNER_AND_FLAGS = """
SELECT pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity, obj_description(c.oid, 'pg_class')
FROM pg_class c WHERE c.oid = to_regclass(:name)
"""
# Table and column privileges, the owner's own left out (the new table's owner has them anyway).
_GRANTS = """
SELECT NULL::name, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type, a.is_grantable
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = to_regclass(:name) AND a.grantee <> c.relowner
UNION ALL
SELECT att.attname, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type, a.is_grantable
FROM pg_attribute att, aclexplode(att.attacl) a
WHERE att.attrelid = to_regclass(:name) AND att.attnum > 0 AND NOT att.attisdropped AND att.attacl IS NOT NULL
"""
_COLUMN_COMMENTS = """
SELECT att.attname, col_description(att.attrelid, att.attnum)
FROM pg_attribute att
WHERE att.attrelid = to_regclass(:name) AND att.attnum > 0 AND NOT att.attisdropped
  AND col_description(att.attrelid, att.attnum) IS NOT NULL
"""
_POLICIES = """
SELECT p.polname, p.polpermissive, p.polcmd,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r) END FROM unnest(p.polroles) AS r),
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_policy p WHERE p.polrelid = to_regclass(:name) ORDER BY p.polname
"""
_VIEWS = """
SELECT DISTINCT v.oid::regclass::text
FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid
JOIN pg_class v ON v.oid = r.ev_class
WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = to_regclass(:name) AND v.oid <> d.refobjid
ORDER BY 1
"""
_COMMANDS = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}


@dataclass(frozen=True)
class Policy:
    name: str
    permissive: bool
    command: str  # pg_policy.polcmd: r, a, w, d or *
    roles: tuple[str, ...]
    using: str | None
    check: str | None


@dataclass(frozen=True)
class Attachments:
    """A table's owner, grants (``(column or None, grantee, privilege, grantable)``), comments and RLS."""

    owner: str
    row_security: bool
    force_row_security: bool
    comment: str | None
    grants: tuple[tuple[str | None, str, str, bool], ...] = ()
    column_comments: dict[str, str] = field(default_factory=dict)
    policies: tuple[Policy, ...] = ()


def read(conn: Connection, table: TableName) -> Attachments | None:
    """What is attached to ``table``; None when it does not exist (the first run)."""
    name = qualified(table)
    found = conn.run(_OWNER_AND_FLAGS, name=name)
    if not found:
        return None
    owner, rls, force, comment = found[0]
    return Attachments(
        owner=owner,
        row_security=rls,
        force_row_security=force,
        comment=comment,
        grants=tuple(
            (column, grantee, privilege, grantable)
            for column, grantee, privilege, grantable in conn.run(_GRANTS, name=name)
        ),  # fmt: skip
        column_comments=dict(conn.run(_COLUMN_COMMENTS, name=name)),
        policies=tuple(Policy(n, p, c, tuple(r), u, w) for n, p, c, r, u, w in conn.run(_POLICIES, name=name)),
    )


def restore_sql(attached: Attachments, table: TableName, *, columns: set[str], current_owner: str) -> list[str]:
    """Statements that put ``attached`` on the new ``table``; columns it no longer has are left out."""
    name = qualified(table)
    statements = []
    if attached.owner != current_owner:
        statements.append(f"ALTER TABLE {name} OWNER TO {quote(attached.owner)}")
    for column, grantee, privilege, grantable in attached.grants:
        if column is not None and column not in columns:
            continue
        on = f"{privilege} ({quote(column)})" if column is not None else privilege
        to = "PUBLIC" if grantee == "PUBLIC" else quote(grantee)
        statements.append(f"GRANT {on} ON {name} TO {to}{' WITH GRANT OPTION' if grantable else ''}")
    if attached.comment is not None:
        statements.append(f"COMMENT ON TABLE {name} IS {literal(attached.comment)}")
    for column, comment in attached.column_comments.items():
        if column in columns:
            statements.append(f"COMMENT ON COLUMN {name}.{quote(column)} IS {literal(comment)}")
    if attached.row_security:
        statements.append(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
    if attached.force_row_security:
        statements.append(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
    for policy in attached.policies:
        roles = ", ".join("PUBLIC" if r == "PUBLIC" else quote(r) for r in policy.roles)
        sql = (
            f"CREATE POLICY {quote(policy.name)} ON {name} AS {'PERMISSIVE' if policy.permissive else 'RESTRICTIVE'} "
            f"FOR {_COMMANDS[policy.command]} TO {roles}"
        )
        if policy.using is not None:
            sql += f" USING ({policy.using})"  # the server's own deparsed expression
        if policy.check is not None:
            sql += f" WITH CHECK ({policy.check})"
        statements.append(sql)
    return statements


def dependent_views(conn: Connection, table: TableName) -> list[str]:
    """Views and materialized views that select from ``table`` (the swap's DROP would refuse them)."""
    return [row[0] for row in conn.run(_VIEWS, name=qualified(table))]
