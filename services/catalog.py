"""Every service class: what the operator's bootstrap reads to declare the whole event topology
(``plumbing.broker.declare_topology``) and the tests start. A running component never imports
it: it loads only its own service's code."""


def service_classes():
    from services.campaign.service import CampaignService
    from services.notification.service import NotificationService
    from services.redemption.service import RedemptionService
    from services.settlement.service import SettlementService
    from services.support.service import SupportService
    return [SupportService, RedemptionService, CampaignService, SettlementService, NotificationService]
