"""Moved to `crm_kernel.bulk` (reporting's event batches write with it too); kept so imports stay valid."""

from crm_kernel.bulk import insert_rows

__all__ = ["insert_rows"]
