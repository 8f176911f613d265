"""The YAML contract: connection models, reading YAML with line numbers, error messages, schedules.

Everything a connection file may say, and how a mistake in it is reported (file, line, field), lives
here; nothing in this package runs a sync. `models` holds the pydantic models (`ConnectionConfig`),
`yaml_reader` turns a file into plain values plus positions, `error_messages` turns validation errors
into located messages, `schedules` compiles `schedule:` into cron, and `redact` masks the secrets a
file names wherever text leaves Rooftop.
"""
