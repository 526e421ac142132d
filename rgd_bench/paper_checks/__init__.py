"""Paper checks: each headline claim of the RGD, SGD-HWS and ALSO papers against the
closest experiment that a CPU and the offline data allow (``python -m rgd_bench.paper_checks``).

The experiments are sweep files (``sweeps/*.toml`` here), launched and resumed by the sweep;
the verdicts are read from their validated records with the report's selection methods.
A command line on top: it may import the sweep, the report and the registries.
"""
