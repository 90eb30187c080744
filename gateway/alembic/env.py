from crm_kernel.migrations import run_migrations
from gateway.models import Base

run_migrations(Base.metadata)
