"""Thin Slack-facing callbacks: validate, record, ack. Nothing here downloads, decodes or calls AWS."""
