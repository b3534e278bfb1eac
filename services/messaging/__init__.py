"""Messaging: templated bulk e-mail to prospects, never twice, never lost."""
