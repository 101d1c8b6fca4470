"""The HTTP gateway: authentication, RBAC and tenant scoping in front of the services."""
from gateway.routes.admin import AdminRoutes
from gateway.routes.api_clients import ApiClientRoutes
from gateway.routes.auth import AuthRoutes
from gateway.routes.campaigns import CampaignRoutes
from gateway.routes.docs import DocsRoutes
from gateway.routes.funding import FundingRoutes
from gateway.routes.merchants import MerchantRoutes
from gateway.routes.notifications import NotificationRoutes
from gateway.routes.portal import PortalRoutes
from gateway.routes.settlements import SettlementRoutes
from gateway.routes.support import SupportRoutes
from gateway.routes.users import UserRoutes
from gateway.routes.vouchers import VoucherRoutes


class GatewayService(AuthRoutes, MerchantRoutes, UserRoutes, VoucherRoutes, CampaignRoutes, FundingRoutes,
                     SettlementRoutes,
                     SupportRoutes, NotificationRoutes, AdminRoutes, DocsRoutes, PortalRoutes, ApiClientRoutes):
    name = "gateway"
