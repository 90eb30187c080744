from crm_kernel.migrations import run_migrations
from documents.models import Base

run_migrations(Base.metadata)
