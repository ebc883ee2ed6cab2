"""Roles of the people who use the service."""

from __future__ import annotations

from vocabulary.labelled import LabelledEnum


class Role(LabelledEnum):
    """The role of a user account; what each may do is decided elsewhere (permissions)."""

    GAS_OFFICE = "gas_office", "燃气管理所"
    BUILDER = "builder", "建设单位"
    INSPECTOR = "inspector", "检查人员"
    ADMIN = "admin", "管理员"
    # Pipeline owners (燃气企业 / 管道企业): coming soon, not yet assignable to an account.
    UTILITY = "utility", "燃气企业"


# Roles an account can have today (the database accepts exactly these).
ASSIGNABLE_ROLES: tuple[Role, ...] = (Role.GAS_OFFICE, Role.BUILDER, Role.INSPECTOR, Role.ADMIN)
