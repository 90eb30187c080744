"""Shared kernel of the CRM services: configuration, database, outbox, schemas, errors, metrics."""
