"""Reading: from a settled file to committed batches (plan, row loop, stage, outbox writer)."""
