"""The process runtime (one per cloud process). Run it with ``python -m praas_kit.process``."""
