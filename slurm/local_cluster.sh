#!/bin/bash
# hpc_nc: a single-node Slurm cluster on this machine, for testing the sbatch templates and
# `hpc-nc slurm` against real Slurm (tests/test_slurm_cluster.py uses it).
#
#   slurm/local_cluster.sh up       install (Debian packages, once) and start munged, slurmctld, slurmd
#   slurm/local_cluster.sh status   daemons and node state; exit 0 when the node is usable
#   slurm/local_cluster.sh env      print `export SLURM_CONF=...` (eval it before sbatch/squeue)
#   slurm/local_cluster.sh down     stop the daemons (by PID) and remove the state folder
#
# Facts it relies on (Slurm 22.05 from Debian 12):
# - packages: slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge libpmix-dev; libpmix-dev
#   because Slurm's mpi/pmix plugin dlopens the unversioned libpmix.so, and Debian's OpenMPI
#   needs PMIx under srun (it aborts under --mpi=none or pmi2), hence MpiDefault=pmix;
# - no systemd here: the daemons are started directly and stopped by the PIDs they record;
# - no slurmdbd, so `sacct` does not work: poll `squeue`, or read the jobcomp/filetxt log
#   ($HPC_NC_SLURM_STATE/jobcomp.log, one line per finished job with its JobState).
# Everything lives in $HPC_NC_SLURM_STATE (default /tmp/hpc_nc_slurm): slurm.conf, a munge
# key and socket of its own, spool, logs. `up` is idempotent: a running cluster is kept.
set -euo pipefail

STATE=${HPC_NC_SLURM_STATE:-/tmp/hpc_nc_slurm}
CONF=$STATE/slurm.conf
PACKAGES=(slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge libpmix-dev)
SUDO=
[[ $(id -u) -eq 0 ]] || SUDO=sudo

die() { echo "local_cluster: $*" >&2; exit 1; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
    done
    (( ${#missing[@]} == 0 )) && return 0
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
    echo "local_cluster: installing ${missing[*]}" >&2
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"; } \
        >"$STATE/apt.log" 2>&1 || die "apt-get install failed (see $STATE/apt.log)"
}

write_conf() {
    local host cpus mem_kb mem_mb
    host=$(hostname -s)
    cpus=$(nproc)
    mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    mem_mb=$(( mem_kb * 85 / 100 / 1024 ))   # ~85 % of RAM: slurmd drains a node that reports less
    cat >"$CONF" <<EOF
# written by slurm/local_cluster.sh: one node, controller and compute on $host
ClusterName=hpcnc
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${HPC_NC_SLURMCTLD_PORT:-6817}
SlurmdPort=${HPC_NC_SLURMD_PORT:-6818}
AuthType=auth/munge
AuthInfo=socket=$STATE/munge.socket
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SchedulerType=sched/builtin
ReturnToService=2
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
KillWait=5
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

node_state() {
    SLURM_CONF=$CONF sinfo -h -N -o '%T' 2>/dev/null | head -n 1
}

cmd_up() {
    mkdir -p "$STATE"
    install_packages
    mkdir -p "$STATE/ctld" "$STATE/spool" "$STATE/munge"
    [[ -f "$CONF" ]] || write_conf
    if ! alive "$STATE/munged.pid"; then
        if [[ ! -f "$STATE/munge.key" ]]; then
            dd if=/dev/urandom of="$STATE/munge.key" bs=1024 count=1 status=none
            chmod 600 "$STATE/munge.key"
        fi
        chmod 700 "$STATE/munge"
        munged --force --socket="$STATE/munge.socket" --key-file="$STATE/munge.key" \
            --pid-file="$STATE/munged.pid" --log-file="$STATE/munged.log" --seed-file="$STATE/munge/seed" \
            || die "munged did not start (see $STATE/munged.log)"
    fi
    if ! alive "$STATE/slurmctld.pid"; then
        slurmctld -f "$CONF" -i || die "slurmctld did not start (see $STATE/slurmctld.log)"
    fi
    if ! alive "$STATE/slurmd.pid"; then
        slurmd -f "$CONF" || die "slurmd did not start (see $STATE/slurmd.log)"
    fi
    local state=""
    for _ in $(seq 1 60); do
        state=$(node_state)
        [[ "$state" == idle* || "$state" == mixed* || "$state" == allocated* ]] && break
        sleep 0.5
    done
    case "$state" in
        idle*|mixed*|allocated*) echo "local_cluster: up, node $(hostname -s) $state (SLURM_CONF=$CONF)" ;;
        *) die "node not usable after 30 s (state '${state:-unknown}'; see $STATE/slurmctld.log, $STATE/slurmd.log)" ;;
    esac
}

cmd_down() {
    local pidfile pid
    for d in slurmd slurmctld munged; do
        pidfile=$STATE/$d.pid
        if alive "$pidfile"; then
            pid=$(cat "$pidfile")
            kill "$pid"
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        fi
    done
    [[ "$STATE" == /tmp/* || -n "${HPC_NC_SLURM_STATE:-}" ]] && rm -rf "$STATE"
    echo "local_cluster: down"
}

cmd_status() {
    local ok=0
    for d in munged slurmctld slurmd; do
        if alive "$STATE/$d.pid"; then echo "$d: running (pid $(cat "$STATE/$d.pid"))"; else echo "$d: not running"; ok=1; fi
    done
    local state
    state=$(node_state || true)
    echo "node: ${state:-unknown}"
    [[ "$state" == idle* || "$state" == mixed* || "$state" == allocated* ]] || ok=1
    return $ok
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: slurm/local_cluster.sh up|down|status|env" >&2; exit 2 ;;
esac
