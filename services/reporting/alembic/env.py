from crm_kernel.migrations import run_migrations
from reporting.models import Base

run_migrations(Base.metadata)
