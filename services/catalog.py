"""Every service class, for declaring the whole event topology at start-up."""


def service_classes():
    from services.campaign.service import CampaignService
    from services.notification.service import NotificationService
    from services.redemption.service import RedemptionService
    from services.settlement.service import SettlementService
    from services.support.service import SupportService
    return [SupportService, RedemptionService, CampaignService, SettlementService, NotificationService]
