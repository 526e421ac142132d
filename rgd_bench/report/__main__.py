from rgd_bench.report.cli import run

run()
