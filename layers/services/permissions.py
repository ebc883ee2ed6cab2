"""Who may do what: one table of roles × actions × scope, deny by default.

Every route (``gisapp.api.deps.allow``) and every command (``authorize(Actor.cli(), ...)``)
asks this table; services ask it again for the finer moves (which permit state, which
inspection kind, verifying a hazard). A role sees and does only what it is granted
here: a role missing from the table, or an action missing from a role, is refused.

The scope of a grant says which rows the action reaches:

- ``ALL``: everything.
- ``OWN_PROJECTS``: the projects of the actor's organisation, and what hangs on them
  (their conflicts, permits, inspections, hazards, evidence).
- ``OWN_PIPELINES``: the pipelines whose ``owner`` is the actor's organisation, and what
  hangs on them (their conflicts, permits, the projects involved).
- ``NEAR_OWN_SITES``: the pipelines whose ranges can reach the organisation's sites
  (the rule set's search distance).

A scoped grant needs an organisation: an actor without one is refused.

Every grant is further bounded by the actor's district (``Access.district``): a user
scoped to a district (``app_user.district``) reaches only the rows of that district,
whatever its role and grant scope; None reaches the deployment's whole jurisdiction.
The database enforces the same bound with row-level security
(``layers.services.districts``): the token check sets it for the request's
transaction, so a query that forgot it still reaches nothing of another district.
Writes name the district they land in (``check_in_district``) and are refused outside.

Adding a role is one entry in ``ROLES`` with its grants (and its name in the ``app_user``
role check constraint, when users may hold it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import vocabulary as words
from layers.services.actors import CLI_ROLE, JOB_ROLE, Actor
from layers.services.errors import PermissionDeniedError


class Scope(StrEnum):
    """Which rows a grant reaches."""

    ALL = "all"
    OWN_PROJECTS = "own_projects"
    OWN_PIPELINES = "own_pipelines"
    NEAR_OWN_SITES = "near_own_sites"


EVERYTHING = (Scope.ALL,)  # for callers that cannot narrow what they answer

# Every action, with the Chinese words of "may not <do this>". Names are <object>.<verb>;
# a third part picks one of several moves (permit.to.<state>, inspection.record.<kind>).
ACTIONS: dict[str, str] = {
    "account.read": "查看本人账号",
    "account.password": "修改本人密码",
    "account.token": "管理本人的个人访问令牌",
    "project.read": "查看施工项目",
    "project.write": "新建、修改或删除施工项目",
    "project.import": "导入施工项目",
    "project.review": "审核大面积施工范围（放行或退回）",
    "pipeline.read": "查看燃气管道",
    "pipeline.write": "新建、修改或删除燃气管道",
    "pipeline.import": "导入燃气管道",
    "township.import": "导入乡镇范围",
    "township.read": "查看乡镇范围",
    "local_grid.write": "保存本地坐标系（控制点拟合）",
    "data.export": "导出数据",
    "data.screen": "对全区数据进行缓冲区筛查",
    "conflict.read": "查看冲突",
    "alert.read": "查看告警",
    "alert.change": "确认或办结告警",
    "alert.deliver": "推送告警",
    "permit.read": "查看保护手续",
    **{f"permit.to.{s.value}": f"将保护手续改为“{s.label}”（{s.value}）" for s in words.PermitState},
    "inspection.read": "查看检查记录",
    **{f"inspection.record.{k.value}": f"记录{k.label}（{k.value}）" for k in words.InspectionKind},
    "hazard.rectify": f"将隐患标为{words.HazardState.RECTIFIED.label}（rectified）",
    "hazard.verify": f"复核销项：将隐患标为{words.HazardState.VERIFIED.label}（verified）",
    "evidence.upload": "上传检查证据",
    "evidence.read": "下载检查证据",
    "campaign.status": "查看治理行动进度",
    "campaign.plan": "抽取区级抽查计划",
    "map.read": "查看地图数据",
    "report.read": "下载月度报告",
    "rules.read": "查看规则集版本与规则变更影响",
    "user.manage": "管理用户",
    # The protection procedure (issue #14).
    "answer.read": "查看查询答复书",
    "answer.renew": "复查并重新签发查询答复书",
    "review.read": "查看管道权属单位审查",
    "review.reply": "答复冲突（管道权属单位审查）",
    "plan.upload": "上传保护方案",
    "plan.decide": "对保护方案给出意见",
    "violation.read": "查看违规施工告警",
    "supervision.read": "查看现场监护",
    "supervision.manage": "安排或记录现场监护",
    "start_notice.submit": "提交开工告知",
    "damage.report": "报告管道损坏",
    "damage.read": "查看管道损坏报告",
    "damage.acknowledge": "确认管道损坏报告",
    "document.read": "下载保护手续文件",
    "notification.read": "查看本人通知",
    "organisation.read": "查看单位信息",
    "organisation.write": "修改单位联系方式与通知渠道",
}


@dataclass(frozen=True)
class Role:
    """A role: its Chinese label, what it is granted, whether an ``app_user`` may hold it."""

    name: str
    label_zh: str
    grants: Mapping[str, Scope] = field(default_factory=dict)
    login: bool = True


def _role(role: words.Role, grants: Mapping[str, Scope]) -> Role:
    """A role of the shared vocabulary (its code and its one Chinese label) with its grants."""
    return Role(role.value, role.label, grants)


def _grants(scope: Scope, *actions: str) -> dict[str, Scope]:
    return dict.fromkeys(actions, scope)


_READ_NETWORK = ("project.read", "pipeline.read", "conflict.read", "permit.read")
_INSPECT = ("inspection.read", "inspection.record.self", "inspection.record.third_party",
            "inspection.record.spot", "hazard.rectify", "hazard.verify", "evidence.upload",
            "evidence.read", "campaign.status", "map.read")
_PERMIT_MOVES = tuple(a for a in ACTIONS if a.startswith("permit.to."))
_OWN_SITE_WORK = ("project.read", "project.write", "project.import", "conflict.read",
                  "permit.read", "permit.to.applied", "inspection.read",
                  "inspection.record.self", "hazard.rectify", "evidence.upload", "evidence.read")

# The procedure: the office everything, builders for their own projects, owners for their own
# pipelines (``utility``), inspectors read; everyone signed in reports damage and reads
# their own notifications.
_PROCEDURE_OFFICE = ("answer.read", "answer.renew", "review.read", "plan.upload", "violation.read",
                     "supervision.read", "start_notice.submit", "damage.read", "damage.acknowledge",
                     "document.read", "organisation.read", "organisation.write")
_PROCEDURE_BUILDER = ("answer.read", "answer.renew", "review.read", "plan.upload", "violation.read",
                      "supervision.read", "start_notice.submit", "damage.read", "document.read",
                      "organisation.read", "organisation.write")
_PROCEDURE_OWNER = ("project.read", "pipeline.read", "conflict.read", "permit.read", "review.read",
                    "review.reply", "plan.decide", "violation.read", "supervision.read",
                    "supervision.manage", "damage.read", "damage.acknowledge", "document.read",
                    "organisation.read", "organisation.write")
_PROCEDURE_INSPECTOR = ("answer.read", "review.read", "violation.read", "supervision.read",
                        "damage.read", "document.read")
_SIGNED_IN = ("notification.read",)

ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        # The district gas office sees and manages the whole network; not user accounts.
        _role(words.Role.GAS_OFFICE, _grants(
            Scope.ALL, "account.read", "account.password", "account.token", "township.read", *_READ_NETWORK,
            "project.write", "project.import", "project.review",
            "pipeline.write", "pipeline.import", "alert.read", "alert.change", *_PERMIT_MOVES,
            *_INSPECT, "campaign.plan", "report.read", *_PROCEDURE_OFFICE, *_SIGNED_IN,
            "damage.report", "rules.read")),
        # Builders: their own organisation's sites, and the pipelines that can reach them.
        _role(words.Role.BUILDER, {
            "account.read": Scope.ALL, "account.password": Scope.ALL, "account.token": Scope.ALL,
            "township.read": Scope.ALL,
            **_grants(Scope.OWN_PROJECTS, *_OWN_SITE_WORK),
            "pipeline.read": Scope.NEAR_OWN_SITES,
            **_grants(Scope.OWN_PROJECTS, *_PROCEDURE_BUILDER),
            **_grants(Scope.ALL, *_SIGNED_IN, "damage.report")}),
        # Inspectors read the network and carry out the campaign's inspections.
        _role(words.Role.INSPECTOR, _grants(Scope.ALL, "account.read", "account.password",
                                            "account.token", "township.read", *_READ_NETWORK,
                                            *_INSPECT, *_PROCEDURE_INSPECTOR, *_SIGNED_IN,
                                            "damage.report")),
        # Pipeline owners (gas utilities): their own pipelines and what hangs on them. Their
        # personal access tokens (desktop GIS) read through the same scopes (/ogc included).
        _role(words.Role.UTILITY, {
            **_grants(Scope.OWN_PIPELINES, *_PROCEDURE_OWNER),
            **_grants(Scope.ALL, "account.read", "account.password", "account.token",
                      "township.read", *_SIGNED_IN, "damage.report")}),
        # The administrator manages accounts only: the network is need-to-know.
        _role(words.Role.ADMIN, _grants(Scope.ALL, "account.read", "account.password",
                                        "account.token", "user.manage", *_SIGNED_IN,
                                        # where the accounts' organisations are told things
                                        "organisation.read", "organisation.write")),
        # The operator at the server's shell holds the database credentials anyway.
        Role(CLI_ROLE, "命令行", _grants(Scope.ALL, *ACTIONS), login=False),
        # Background jobs of the server: expire lapsed approvals, deliver alerts, and move
        # the stored data to the rule set version that takes effect (gisapp.rule_watch).
        Role(JOB_ROLE, "后台任务", _grants(Scope.ALL, "permit.to.expired", "alert.deliver",
                                           "data.screen"), login=False),
    )
}
# The roles a user account may hold (``gisapp user create``, ``/api/users``).
USER_ROLES = tuple(name for name, role in ROLES.items() if role.login)
ROLE_ZH = {name: role.label_zh for name, role in ROLES.items()}


def needs_organisation(role: str) -> bool:
    """Return whether ``role`` has a grant scoped to an organisation (so it must name one)."""
    return any(scope is not Scope.ALL for scope in ROLES[role].grants.values())


def account_managers() -> tuple[str, ...]:
    """Return the user roles granted ``user.manage`` (at least one such user must remain)."""
    return tuple(name for name in USER_ROLES if "user.manage" in ROLES[name].grants)


@dataclass(frozen=True)
class Access:
    """A granted action: the actor and the scope of what it reaches."""

    actor: Actor
    action: str
    scope: Scope

    @property
    def district(self) -> str | None:
        """The district (adcode) whose rows alone are reached; None: the whole jurisdiction."""
        return self.actor.district

    @property
    def project_organisation(self) -> str | None:
        """The organisation whose projects alone are reached; None: not limited to one."""
        return self.actor.organisation if self.scope is Scope.OWN_PROJECTS else None


def check_action(action: str) -> str:
    """Return ``action`` if the table knows it (a typo fails at import, not at request)."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")
    return action


def scope_of(actor: Actor | None, action: str) -> Scope | None:
    """Return the scope ``actor`` is granted for ``action``, or None when refused."""
    check_action(action)
    role = ROLES.get(actor.role) if actor is not None else None
    return role.grants.get(action) if role is not None else None


def allowed(actor: Actor | None, action: str) -> bool:
    """Return whether the table grants ``action`` to ``actor``."""
    return scope_of(actor, action) is not None


def authorize(actor: Actor | None, action: str) -> Access:
    """Return the actor's access for ``action``; raise ``PermissionDeniedError`` if refused."""
    scope = scope_of(actor, action)
    if actor is None or scope is None:
        raise PermissionDeniedError(denial(actor, action))
    if scope is not Scope.ALL and not (actor.organisation or "").strip():
        raise PermissionDeniedError(
            f"角色 {actor.role}（{ROLE_ZH[actor.role]}）未指定所属单位，无权{ACTIONS[action]}")
    return Access(actor, action, scope)


def holders(action: str) -> list[str]:
    """Return the Chinese labels of the user roles granted ``action``."""
    return [r.label_zh for r in ROLES.values() if r.login and action in r.grants]


def denial(actor: Actor | None, action: str) -> str:
    """Return the Chinese refusal: the role, what it may not do, who may, what it may do."""
    role = getattr(actor, "role", None)
    label = ROLE_ZH.get(role or "", "未知角色")
    message = f"角色 {role}（{label}）无权{ACTIONS[action]}"
    who = holders(action)
    hints = [f"仅限：{'、'.join(who)}"] if who else []
    family = action.rsplit(".", 1)[0] + "."
    if action.count(".") == 2 and role in ROLES:
        mine = [ACTIONS[a] for a in ROLES[role].grants if a.startswith(family)]
        if mine:
            hints.append(f"本角色只能{'、'.join(mine)}")
    return message + (f"（{'；'.join(hints)}）" if hints else "")


def scope_condition(access: Access | None, *, project: str = "p",
                    pipeline: str | None = None) -> tuple[str, dict]:
    """Return the SQL condition (and binds) keeping the rows ``access`` reaches.

    ``project`` is the alias of ``construction_project`` in the caller's query and
    ``pipeline`` that of ``gas_pipeline`` when the query has one (conflicts, permits);
    without it, a pipeline owner reaches the projects that reach its pipelines. None (an
    internal read) reaches everything. A scope the query cannot honour is refused, never
    widened.
    """
    if access is None or access.scope is Scope.ALL:
        return "TRUE", {}
    org = {"scope_org": access.actor.organisation}
    if access.scope is Scope.OWN_PROJECTS:
        # Nothing of a deleted project (its closed conflicts, their permits) stays
        # visible to its organisation; the gas office keeps the history.
        return f"({project}.organisation = :scope_org AND {project}.deleted_at IS NULL)", org
    if access.scope is Scope.OWN_PIPELINES and pipeline is not None:
        return f"{pipeline}.owner = :scope_org", org
    if access.scope is Scope.OWN_PIPELINES:
        return ("EXISTS (SELECT 1 FROM pipeline_conflict sc JOIN gas_pipeline sg "
                f"ON sg.id = sc.pipeline_id WHERE sc.project_id = {project}.id "
                "AND sg.owner = :scope_org)"), org
    raise PermissionDeniedError(denial(access.actor, access.action))
