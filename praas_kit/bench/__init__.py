"""Benchmarks: scripts that measure the real path and save CSV + metadata (``praas bench NAME``).

Each benchmark is a module with a ``run_*(out, quick=...) -> BenchRun`` function and a
``summarise(rows) -> list[Figure]`` that states each headline figure's target; :data:`BENCHMARKS` names them.
"""

from __future__ import annotations

#: name -> (module, run function); the module's ``summarise`` reads its rows
BENCHMARKS: dict[str, tuple[str, str]] = {
    "core": ("praas_kit.bench.core", "run_core_benchmarks"),
    "docker": ("praas_kit.bench.docker", "run_docker_benchmarks"),
    "load": ("praas_kit.bench.load", "run_load_benchmarks"),
    "invocations": ("praas_kit.bench.invocations", "run_invocation_benchmarks"),
    "channels": ("praas_kit.bench.channels", "run_channel_benchmarks"),
    "profile": ("praas_kit.bench.profile", "run_profile"),
    "latex": ("praas_kit.bench.latex", "run_latex_benchmark"),
    "state": ("praas_kit.bench.state", "run_state_benchmark"),
    "swap": ("praas_kit.bench.swap", "run_swap_benchmark"),
    "kmeans": ("praas_kit.bench.kmeans", "run_kmeans_benchmark"),
    "allocation": ("praas_kit.bench.allocation", "run_allocation_benchmark"),
    "scaling": ("praas_kit.bench.scaling", "run_scaling"),
}
