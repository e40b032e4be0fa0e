"""The container engines praas-kit drives, as the backends, deployments, image builder, benchmarks and lab use
them: :mod:`~praas_kit.engines.docker` (connect, networks, in-container detection),
:mod:`~praas_kit.engines.swarm` (a Swarm held while it is needed, node addresses, free capacity) and
:mod:`~praas_kit.engines.images` (the images and what a container of them looks like, named once).

Importing this package imports no Docker SDK; every engine failure becomes
:class:`~praas_kit.errors.BackendError`.
"""
