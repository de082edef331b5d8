#!/usr/bin/env bash
# A rank of a 3-rank distributed fit dies or hangs at its third step: the job must end within a bounded time, and the
# surviving ranks must say what happened. Arguments: mpirun, the mpi_faults executable.
set -u
mpirun=$1 exe=$2
run=("$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np 3)
fail=0
check() {  # name, seconds allowed, command...: runs it, then greps its output for each pattern in $expect
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS out
  out=$(timeout 90 "$@" 2>&1)
  local rc=$? took=$((SECONDS - t0))
  for p in "${expect[@]}"; do
    if ! grep -q -- "$p" <<<"$out"; then
      echo "FAIL $name: the output lacks '$p'"; fail=1
    fi
  done
  if [ "$rc" -eq 124 ] || [ "$took" -gt "$limit" ]; then echo "FAIL $name: took ${took}s (limit ${limit}s)"; fail=1; fi
  echo "--- $name: exit $rc after ${took}s"
  echo "$out" | grep -v '^\s*$' | head -20
}
# A killed rank: Open MPI's launcher ends the job and names the rank and the signal.
expect=("rank 2: killed at step 3" "rank 2 .*exited on signal 9")
check "killed rank (mpirun ends the job)" 30 "${run[@]}" "$exe" kill 3
# A killed rank with the launcher told to keep the job: the survivors time out in the gradients' sum and say so.
expect=("rank 2: killed at step 3" "rank 0: DistributedError: distributed training, training batch 2 of epoch 1: MpiCommunicator (rank 0 of 3): the all-reduce of the gradients got no answer from every rank within 3 s"
        "rank 1: DistributedError: distributed training, training batch 2 of epoch 1: MpiCommunicator (rank 1 of 3)")
check "killed rank (survivors time out)" 30 "${run[@]}" --enable-recovery "$exe" kill 3
# A rank that hangs: the others time out, then the launcher ends the job.
expect=("rank 2: hanging at step 3" "rank 0: DistributedError: .*got no answer from every rank within 3 s: a rank died, hangs"
        "rank 1: DistributedError:")
check "hanging rank" 30 "${run[@]}" "$exe" hang 3
exit $fail
