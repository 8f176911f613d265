"""Rent Manager 12 Web API (London Computer Systems): `connector` is the `rent_manager` source, a fixed
`rest_api` manifest; `config` its config model (no runtime imported); `schema` the streams it reads.
See docs/connectors/rent_manager.md."""
