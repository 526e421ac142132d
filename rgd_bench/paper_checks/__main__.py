import sys

from rgd_bench._cli import run_cli
from rgd_bench.paper_checks.cli import PROG, main

run_cli(lambda: main(sys.argv[1:]), prog=PROG)
