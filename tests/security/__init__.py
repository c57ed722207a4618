"""Security checks: TLS, secrets in logs and status, symlinks, topic injection, size bounds."""
