from rgd_bench.sweep.cli import entry_point

entry_point()
