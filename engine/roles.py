"""Who may open which page and run which action: the access matrix, as data.

The app, the command line and the API all read this one table, so a role's
rights cannot drift between them. Page keys are the fixed URL paths.
"""
from __future__ import annotations

ROLES: tuple[str, ...] = ("clinician", "analyst", "admin", "manager")

# page url path -> roles allowed. "" is the home page.
PAGE_ROLES: dict[str, frozenset[str]] = {
    "": frozenset(ROLES),
    "records": frozenset({"clinician", "analyst", "admin"}),
    "patient": frozenset({"clinician", "admin"}),
    "explore": frozenset({"analyst", "admin"}),
    "predict": frozenset({"clinician", "admin"}),
    "imaging": frozenset({"clinician", "admin"}),
    "treatment": frozenset({"clinician", "admin"}),
    "models": frozenset({"analyst", "admin"}),
    "admin": frozenset({"admin"}),
    "capacity": frozenset({"manager", "admin"}),  # issue 17: unit managers see only Home and Capacity
}

# Fine-grained actions inside pages and on the command line / API.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "records.import": frozenset({"analyst", "admin"}),
    "records.view": frozenset(ROLES),
    "patient.view": frozenset({"clinician", "admin"}),
    "predict.run": frozenset({"clinician", "admin"}),
    "feedback.record": frozenset({"clinician", "admin"}),
    "explore.run": frozenset({"analyst", "admin"}),
    "models.train": frozenset({"analyst", "admin"}),
    "models.promote": frozenset({"admin"}),
    "models.retire": frozenset({"admin"}),
    "models.threshold": frozenset({"admin"}),
    "models.view": frozenset({"analyst", "admin"}),
    "users.manage": frozenset({"admin"}),
    "audit.read": frozenset({"admin"}),
    "store.backup": frozenset({"admin"}),
    "store.restore": frozenset({"admin"}),
    "treatment.view": frozenset({"clinician", "admin"}),
    "treatment.decide": frozenset({"clinician", "admin"}),
    "treatment.export": frozenset({"clinician", "admin"}),
    "explore.export": frozenset({"analyst", "admin"}),
    "explore.cohort_save": frozenset({"analyst", "admin"}),
    "capacity.plan": frozenset({"manager", "admin"}),
    "capacity.scenario_save": frozenset({"manager", "admin"}),
    "capacity.export": frozenset({"manager", "admin"}),
    # Issue 15 (clinical notes): importing a patient's notes and confirming/rejecting suggested problems.
    "notes.import": frozenset({"clinician", "admin"}),
    "notes.review": frozenset({"clinician", "admin"}),
}


def can_open_page(role: str | None, page: str) -> bool:
    """True when ``role`` may open the page at URL path ``page``; unknown pages are refused."""
    return role is not None and role in PAGE_ROLES.get(page, frozenset())


def can(role: str | None, action: str) -> bool:
    """True when ``role`` may perform ``action``; unknown actions are refused."""
    return role is not None and role in ACTION_ROLES.get(action, frozenset())


def pages_for(role: str | None) -> list[str]:
    """URL paths of the pages ``role`` may open, in navigation order."""
    return [page for page in PAGE_ROLES if can_open_page(role, page)]

# Issue 9 (REST API). The API checks the same table as the app: predictions use
# "predict.run" and treatment options "treatment.view"; imaging calls are allowed
# to exactly the roles that may open the imaging page; model cards are readable by
# every role (analysts on the models page, clinicians as the basis of a prediction).
ACTION_ROLES.update({
    "api.models.read": frozenset(ROLES),
    "api.imaging.run": PAGE_ROLES["imaging"],
    "api.tokens.manage": frozenset({"admin"}),
})
