"""Applications shipped with the kit: :mod:`praas_kit.apps.latex` (the paper's LaTeX microservice, §6.4)."""
