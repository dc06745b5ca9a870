#!/usr/bin/env bash
# bench/allreduce.sh BIN: the gradient exchange of the big configuration (4,499,699 floats) with
# 2 and 4 ranks on this machine, over loopback TCP and over shared memory (vader), our ordered
# sum against MPI_Allreduce. Prints the machine's load average first: the figures move with it.
set -euo pipefail
bin=${1:-build/bench_allreduce}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
for btl in "tcp --mca btl_tcp_if_include lo" "vader"; do
  for np in 2 4; do
    echo "-- $np ranks, btl self,${btl%% *}"
    # shellcheck disable=SC2086
    mpirun -q --oversubscribe --mca btl self,$btl --mca oob_tcp_if_include lo -np $np "$bin" 4499699 20
  done
done
