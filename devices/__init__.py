"""Remote devices: a TOML registry, SSH transport, content-addressed push, remote setup and runs.

`edgebench device add|list|remove|check|setup` and `bench/eval/doctor --on NAME` (cli/) call into here.
The transport is the system OpenSSH client, so the user's ~/.ssh/config, keys, agent and
known_hosts apply unchanged (docs/devices.md says why).
"""
