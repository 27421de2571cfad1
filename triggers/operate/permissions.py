"""Who may call what on the API: the same Django permissions the admin checks."""

from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.views import APIView

# The permission names, as `user.has_perm` takes them: the admin and the API ask these.
CHANGE_TRIGGERS = "triggers.change_trigger"
VIEW_EXECUTIONS = "triggers.view_triggerexecution"
REPLAY_EXECUTIONS = "triggers.replay_triggerexecution"
FORCE_REPLAY = "triggers.force_replay_triggerexecution"
RELEASE_OVER_CAP = "triggers.release_over_cap_triggerexecution"
OPERATE_BREAKER = "triggers.operate_gatewaybreaker"
CHANGE_INSTANCES = "whatsapp.change_instance"


class ModelPermissions(DjangoModelPermissions):
    """Allow a user holding the model permission for the method: view for reads, add, change, delete.

    DRF's own class lets any authenticated user read; here reading needs the view
    permission, as in the admin, so "staff" alone grants nothing by itself.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class CanChangeTriggers(BasePermission):
    """Allow users holding `triggers.change_trigger` (secret rotation changes the trigger)."""

    message = "Rotating a secret needs the 'Can change trigger' permission."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.user.has_perm(CHANGE_TRIGGERS)


class CanViewExecutions(BasePermission):
    """Allow users holding `triggers.view_triggerexecution` (the stats page asks the same)."""

    message = "The stats need the 'Can view trigger execution' permission."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.user.has_perm(VIEW_EXECUTIONS)


class CanReplay(BasePermission):
    """Allow users holding `triggers.replay_triggerexecution` (superusers hold every permission)."""

    message = "Replaying needs the 'Can replay trigger executions' permission."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.user.has_perm(REPLAY_EXECUTIONS)
