from contacts.models import Base
from crm_kernel.migrations import run_migrations

run_migrations(Base.metadata)
