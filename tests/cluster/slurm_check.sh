#!/usr/bin/env bash
# On-demand check of the Slurm path of `evaluate --dask` (issue 31): starts a single-node Slurm on this machine
# (munged with a key made on the spot, slurmctld, slurmd; all in a scratch folder, on ports 16817/16818), runs the smoke
# evaluation through hm.evaluation.slurm_cluster (dask_jobqueue.SLURMCluster: every Dask worker is a Slurm job), runs
# it serially, and compares the files. Stops everything it started, by PID (the jobs by scancel first). Not part of
# `make test` (it needs root and the Debian packages slurm-wlm and munge, installed here when missing); record its
# last result in benchmarks/RESULTS.md ("Dask on Slurm").
#
#   sudo bash tests/cluster/slurm_check.sh            # from the repository root; PYTHON=... picks the interpreter
#
# Exit status 0: the tables are identical; 1: they differ or the run failed; 2: Slurm could not be started.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
JOBS="${JOBS:-2}"  # Slurm jobs = Dask workers, one CPU each

if [ "$(id -u)" != 0 ]; then echo "slurm_check: run as root (slurmd and munged are started here)" >&2; exit 2; fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm_check: installing slurm-wlm and munge (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) >/dev/null \
        || { echo "slurm_check: apt-get install slurm-wlm munge failed" >&2; exit 2; }
fi

WORK="$(mktemp -d /tmp/hm-slurm-check.XXXXXX)"
chmod 755 "$WORK"
NODE="$(hostname -s)"
CPUS="$(nproc)"
MEMORY_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
export SLURM_CONF="$WORK/slurm.conf"
PIDS=()

cleanup() {
    local ids
    ids="$(squeue -h -o %i 2>/dev/null || true)"
    [ -n "$ids" ] && scancel $ids 2>/dev/null && sleep 2
    for (( i=${#PIDS[@]}-1; i>=0; i-- )); do  # slurmd, slurmctld, munged: the reverse of their start
        kill "${PIDS[$i]}" 2>/dev/null && wait "${PIDS[$i]}" 2>/dev/null
    done
    if [ -f "$WORK/munged.pid" ]; then kill "$(cat "$WORK/munged.pid")" 2>/dev/null; fi
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- munge, with a key made on the spot
mkdir -p "$WORK/munge" "$WORK/state" "$WORK/spool" "$WORK/logs"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1 count=1024 status=none
chmod 700 "$WORK/munge"; chmod 400 "$WORK/munge/munge.key"
munged --force --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/munge.socket" \
       --pid-file="$WORK/munged.pid" --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/munged.seed" \
    || { echo "slurm_check: munged did not start (see $WORK/munge/munged.log)" >&2; KEEP=1; exit 2; }

# ---------------------------------------------------------------- slurm.conf: one node, one partition, no accounting
cat > "$SLURM_CONF" <<EOF
ClusterName=hmcheck
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge/munge.socket
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/logs/slurmctld.log
SlurmdLogFile=$WORK/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$NODE CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=check Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -D -i -f "$SLURM_CONF" >"$WORK/logs/slurmctld.out" 2>&1 &
PIDS+=($!)
sleep 2
slurmd -D -f "$SLURM_CONF" >"$WORK/logs/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 30); do
    state="$(sinfo -h -n "$NODE" -o %t 2>/dev/null)"
    [ "$state" = idle ] && break
    sleep 1
done
if [ "${state:-}" != idle ]; then
    echo "slurm_check: the Slurm node did not become idle (state '${state:-none}'; logs in $WORK/logs)" >&2
    KEEP=1; exit 2
fi
echo "slurm_check: Slurm $(sinfo -V | awk '{print $2}') up on $NODE ($CPUS CPUs), munge $(munged -V 2>&1 | awk '{print $1}' | head -1)"

# ---------------------------------------------------------------- the smoke evaluation through SLURMCluster vs serially
cd "$ROOT"
PYTHONPATH="$ROOT/lib${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1 "$PYTHON" - "$WORK" "$JOBS" <<'PY'
import sys, time
from pathlib import Path

import hidden_monotonicity as hm

sys.path.insert(0, "tests/cluster")
from serial_comparison import compare_with_serial

work, jobs = Path(sys.argv[1]), int(sys.argv[2])
cluster = hm.evaluation.slurm_cluster(gpus=0, cores=1, memory="3GB", walltime="00:30:00", queue="check",
                                      log_directory=str(work / "logs"), scheduler_options={"dashboard_address": ":0"})
print(cluster.job_script())
try:
    started = time.perf_counter()
    cluster.scale(jobs=jobs)
    result = hm.evaluate("smoke", work / "slurm", dask=cluster, progress=False)
    slurm_s = time.perf_counter() - started
finally:
    cluster.close()
sys.exit(compare_with_serial("slurm_check", work, work / "slurm", result, slurm_s,
                             f"SLURMCluster ({jobs} Slurm jobs, 1 CPU each; job start included)"))
PY
status=$?
[ $status = 0 ] && echo "slurm_check: PASS" || echo "slurm_check: FAIL (exit $status)"
exit $status
