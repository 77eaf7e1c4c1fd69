#!/usr/bin/env bash
# A single-node SLURM cluster on this Debian machine, for the tests marked `slurm` (README, "Tests").
#   bash .ci/slurm.sh start   install (apt) if needed, write the config from this machine, start munge,
#                             slurmctld and slurmd, wait until the node accepts jobs
#   bash .ci/slurm.sh stop    cancel the cluster's jobs, stop the three daemons (by the PIDs they wrote)
# As root (daemons, /etc). Slurm 22.05 needs munge for authentication.
set -euo pipefail
RUN=/run/cluster-logreg-slurm
CONF=/etc/slurm/slurm.conf

stop() {
    # Jobs first (a job's processes outlive slurmd): this cluster is the tests', every job on it theirs.
    if [[ -f $RUN/slurmctld.pid ]] && squeue -h >/dev/null 2>&1; then
        squeue -h -o %F | sort -u | xargs -r scancel
        for _ in $(seq 100); do [[ -z $(squeue -h 2>/dev/null) ]] && break; sleep 0.2; done  # gone, or 20 s
    fi
    for pidfile in "$RUN/slurmd.pid" "$RUN/slurmctld.pid" "$RUN/munged.pid"; do
        [[ -f $pidfile ]] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done  # gone, or 5 s
        rm -f "$pidfile"
    done
}

start() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null
    fi
    stop
    mkdir -p "$RUN" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm /run/munge
    [[ -f /etc/munge/munge.key ]] || (umask 077 && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null)
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
    runuser -u munge -- munged  # as its own user, as its service would run it
    sleep 0.2
    pgrep -n -x -u munge munged > "$RUN/munged.pid"  # munged keeps its PID file where root's stop() cannot rely on it

    host=$(hostname -s)
    cpus=$(getconf _NPROCESSORS_ONLN)  # not nproc: it follows OMP_NUM_THREADS
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))  # MB, a tenth kept for the OS
    cat > "$CONF" <<CONFIG
# Written by .ci/slurm.sh: one node (this machine), one default partition, no accounting.
ClusterName=cluster-logreg
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# Requeued jobs start again at once (the default waits before a job may start again).
SchedulerParameters=nohold_on_prolog_fail
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONFIG
    slurmctld
    slurmd
    for _ in $(seq 100); do
        if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
            echo "SLURM is up: $(sinfo -h -o '%P %D %c CPUs %m MB %T')"
            return
        fi
        sleep 0.2
    done
    echo "SLURM did not come up; see /var/log/slurm/" >&2
    exit 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: bash .ci/slurm.sh start|stop" >&2; exit 2 ;;
esac
