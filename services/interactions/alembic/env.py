from crm_kernel.migrations import run_migrations
from interactions.models import Base

run_migrations(Base.metadata)
