"""Developer and deployment tools that are not part of the runtime's import path: the image builder
(:mod:`praas_kit.tools.images`) and real storage servers for tests, benchmarks and images
(:mod:`praas_kit.tools.services`). Nothing in the control plane, the process runtime or the SDK
imports this package."""
