"""Operator tools that edit connection files: `yaml_edit` (round-trip edits that keep comments, each
validated as a connection before it replaces the file) and `clone` (a customer's connection made
from another's)."""
