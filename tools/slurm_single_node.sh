#!/usr/bin/env bash
# A single-node Slurm on this machine for tests: munge, slurmctld and slurmd, as root.
#   tools/slurm_single_node.sh start DIR   writes DIR/slurm.conf, starts the daemons, waits
#                                          until the node is idle; prints the SLURM_CONF path
#   tools/slurm_single_node.sh stop DIR    stops them
# proctrack/linuxproc and task/none need no cgroups, so it runs in a container or a VM.
set -euo pipefail
action=${1:?start or stop}
dir=$(realpath -m "${2:?state directory}")
conf="$dir/slurm.conf"

stop() {
  for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
}

if [ "$action" = stop ]; then stop; exit 0; fi

for binary in munged slurmctld slurmd sbatch; do
  command -v "$binary" >/dev/null || { echo "no $binary (Debian: apt-get install slurm-wlm munge)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "needs root (slurmd runs jobs as their users)" >&2; exit 2; }
mkdir -p "$dir"/{state,spool,log,munge}
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$conf" <<CONF
ClusterName=curatetest
SlurmctldHost=$host
SlurmctldPort=6917
SlurmdPort=6918
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$conf
stop
munged --force --socket="$dir/munge/munge.socket" --pid-file="$dir/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed"
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 60); do
  if sinfo -h -o %t 2>/dev/null | grep -qx idle; then echo "$conf"; exit 0; fi
  sleep 1
done
echo "slurm did not come up; logs in $dir/log" >&2
exit 1
