"""Rent Manager 12 Web API (London Computer Systems): `connector` is the `rent_manager` source, a fixed
`rest_api` manifest; `schema` the streams it reads. See docs/connectors/rent_manager.md."""
