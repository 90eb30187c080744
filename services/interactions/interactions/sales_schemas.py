"""Only a re-export: the gateway's routes still import these names here (the schemas are in `schemas`)."""

from interactions.schemas import (  # noqa: F401
    CAMPAIGN_SORTS,
    DEAL_SORTS,
    RESPONSE_KINDS,
    TASK_SORTS,
    CampaignQuerySchema,
    CampaignSchema,
    DealQuerySchema,
    DealSchema,
    DealTransitionSchema,
    OverdueQuerySchema,
    ResponseSchema,
    StageChangeSchema,
    TaskQuerySchema,
    TaskSchema,
)
