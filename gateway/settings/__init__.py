"""The settings models of the services (``[health]``, ``[remote]``, ``[web]``, ``[feedback]``).

They are part of the config document (:mod:`gateway.config`), so they live below the services, not inside
them: the config, the remote config schema and the services all import them without importing a service.
"""
