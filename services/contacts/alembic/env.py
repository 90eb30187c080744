from contacts.models import Base, modelled
from crm_kernel.migrations import run_migrations

run_migrations(Base.metadata, include_name=modelled)
