#!/usr/bin/env bash
# On-demand check of `evaluate --dask ADDRESS` across network hosts (issue 31): the scheduler and the workers each on
# a host of their own, made on this machine as Linux network namespaces joined to it by veth pairs (own interfaces,
# own addresses, own loopback; nothing reaches them through 127.0.0.1), the driver on the machine itself:
#
#   driver (this machine, 10.77.1.1 / 10.77.2.1)  --veth-->  hm-sched (10.77.1.2: dask scheduler, port 18786)
#                                                 --veth-->  hm-work  (10.77.2.2: 2 dask workers, 1 thread each)
#
# The two namespaces reach each other only through this machine, which forwards between them. The smoke evaluation
# runs through the scheduler's address, then serially; the four result files must be byte-identical, and every worker
# must have the other host's address. What it does not show: several machines' own disks (the namespaces share this
# one, as a cluster shares a network filesystem: --out must be a folder every worker can write) or CPUs.
# Not part of `make test` (it needs root and iproute2); record its last result in benchmarks/RESULTS.md
# ("Dask across network hosts").
#
#   sudo bash tests/cluster/network_check.sh          # from the repository root; PYTHON=... picks the interpreter
#
# Exit status 0: identical tables from the workers of the other host; 1: they differ or the run failed;
# 2: the network hosts could not be made.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
PORT=18786
if [ "$(id -u)" != 0 ]; then echo "network_check: run as root (network namespaces are made here)" >&2; exit 2; fi
command -v ip >/dev/null || { echo "network_check: needs ip (Debian package iproute2)" >&2; exit 2; }

WORK="$(mktemp -d /tmp/hm-network-check.XXXXXX)"
FORWARD_BEFORE="$(cat /proc/sys/net/ipv4/ip_forward)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    ip netns delete hm-sched 2>/dev/null; ip netns delete hm-work 2>/dev/null  # their veth pairs go with them
    echo "$FORWARD_BEFORE" > /proc/sys/net/ipv4/ip_forward
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- two hosts, each on its own link to this machine
make_host() {  # name, link number
    local name=$1 n=$2
    ip netns add "$name" || return 1
    ip link add "hm-v$n" type veth peer name "hm-p$n" || return 1
    ip link set "hm-p$n" netns "$name" || return 1
    ip addr add "10.77.$n.1/24" dev "hm-v$n" && ip link set "hm-v$n" up || return 1
    ip -n "$name" addr add "10.77.$n.2/24" dev "hm-p$n" || return 1
    ip -n "$name" link set "hm-p$n" up && ip -n "$name" link set lo up || return 1
    ip -n "$name" route add default via "10.77.$n.1" || return 1
}
make_host hm-sched 1 && make_host hm-work 2 \
    || { echo "network_check: could not make the network hosts (ip netns / veth)" >&2; exit 2; }
echo 1 > /proc/sys/net/ipv4/ip_forward
echo "network_check: hosts hm-sched (10.77.1.2) and hm-work (10.77.2.2), routed through this machine"

# ---------------------------------------------------------------- the scheduler on one host, the workers on the other
cd "$ROOT"
export PYTHONPATH="$ROOT/lib${PYTHONPATH:+:$PYTHONPATH}"
ip netns exec hm-sched "$PYTHON" -m distributed.cli.dask_scheduler --host 10.77.1.2 --port $PORT \
    --dashboard-address :0 >"$WORK/scheduler.log" 2>&1 &
PIDS+=($!)
reachable=0
for _ in $(seq 60); do  # the scheduler's port, as the other host sees it (through this machine's forwarding)
    if ip netns exec hm-work "$PYTHON" -c "import socket; socket.create_connection(('10.77.1.2', $PORT), 1).close()" \
        2>/dev/null; then reachable=1; break; fi
    sleep 0.5
done
if [ $reachable != 1 ]; then
    echo "network_check: hm-work cannot reach the scheduler on hm-sched (log: $WORK/scheduler.log)" >&2; KEEP=1; exit 2
fi
ip netns exec hm-work env OMP_NUM_THREADS=1 "$PYTHON" -m distributed.cli.dask_worker "tcp://10.77.1.2:$PORT" \
    --host 10.77.2.2 --nworkers 2 --nthreads 1 --no-dashboard --local-directory "$WORK/worker-space" \
    >"$WORK/workers.log" 2>&1 &
PIDS+=($!)

# ---------------------------------------------------------------- the smoke evaluation through the address vs serially
OMP_NUM_THREADS=1 "$PYTHON" - "$WORK" "tcp://10.77.1.2:$PORT" <<'PY'
import sys, time
from pathlib import Path

from distributed import Client

import hidden_monotonicity as hm

sys.path.insert(0, "tests/cluster")
from serial_comparison import compare_with_serial

work, address = Path(sys.argv[1]), sys.argv[2]
client = Client(address, timeout=60)
client.wait_for_workers(2, timeout=120)
workers = sorted(client.scheduler_info()["workers"])
print(f"network_check: scheduler {address}; workers {', '.join(workers)}")
if not all(w.startswith("tcp://10.77.2.2:") for w in workers):
    sys.exit(f"network_check: a worker is not on the host hm-work: {workers}")
client.close()
started = time.perf_counter()
result = hm.evaluate("smoke", work / "network", dask=address, progress=False)
sys.exit(compare_with_serial("network_check", work, work / "network", result, time.perf_counter() - started,
                             f"{address} ({len(workers)} workers on 10.77.2.2)"))
PY
status=$?
[ $status = 0 ] && echo "network_check: PASS" || { echo "network_check: FAIL (exit $status; logs kept in $WORK)"; KEEP=1; }
exit $status
