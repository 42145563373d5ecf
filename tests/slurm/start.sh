#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine's loopback, for testing the SLURM profile.
#
#   tests/slurm/start.sh [STATE_DIR]        (default: $SPADE_SLURM_DIR or /tmp/spade-slurm)
#
# Everything lives in STATE_DIR: slurm.conf, a fresh munge key and socket, spool and log
# directories, and `pids`, the pid of every daemon this script started (munged,
# slurmctld, slurmd). tests/slurm/stop.sh STATE_DIR stops exactly those. The one file
# outside STATE_DIR is the link /etc/slurm/slurm.conf -> STATE_DIR/slurm.conf (made only
# where no SLURM configuration exists, recorded in `pids`, removed by stop.sh).
# The node advertises stand-in `gpu` resources (one per core, at most 4, backed by
# /dev/null-like files, no real device) so that jobs asking for a GPU, as the SLURM
# profile's network jobs do, can be scheduled here.
# Needs root (munged runs as user munge) and Debian's munge, slurmctld, slurmd, slurm-client.
set -euo pipefail

DIR=${1:-${SPADE_SLURM_DIR:-/tmp/spade-slurm}}
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "start.sh: $*" >&2; exit 1; }

for bin in munged slurmctld slurmd sinfo sbatch squeue; do
    command -v "$bin" >/dev/null || die "'$bin' not found: run tests/slurm/install.sh first"
done
[ "$(id -u)" -eq 0 ] || die "must run as root (munged runs as user munge, slurmd as root)"
id munge >/dev/null 2>&1 || die "user 'munge' missing: is the munge package installed?"

# All traffic stays on loopback: the daemons bind to the address the host name resolves to.
addr=$(getent ahostsv4 "$(hostname)" | awk 'NR == 1 {print $1}')
case "$addr" in
    127.*) ;;
    *) die "host name '$(hostname)' resolves to '${addr:-nothing}', not a 127.x address; refusing to start" ;;
esac

# Snakemake's job step drops SLURM_CONF from the environment of the srun it calls inside
# a job, so srun must find this cluster at the default path: link it there, if free.
if [ -e /etc/slurm/slurm.conf ] || [ -L /etc/slurm/slurm.conf ]; then
    die "/etc/slurm/slurm.conf exists: this machine has its own SLURM configuration; refusing to start"
fi
if [ -f "$DIR/pids" ]; then
    while read -r name pid; do
        [ "$name" = link ] && continue
        kill -0 "$pid" 2>/dev/null && die "$name (pid $pid) from $DIR is still running: run stop.sh $DIR first"
    done < "$DIR/pids"
fi
rm -rf "$DIR"
mkdir -p "$DIR"/{munge,munge-key,spool/ctld,spool/d,log}
runuser -u munge -- test -x "$DIR" ||
    die "user munge cannot reach $DIR (a parent directory is private); use a directory such as /tmp/spade-slurm"
: > "$DIR/pids"
chmod 755 "$DIR" "$DIR/log"

record() { echo "$1 $2" >> "$DIR/pids"; }

wait_for_pidfile() {  # name pidfile
    for _ in $(seq 1 100); do
        if [ -s "$2" ] && kill -0 "$(cat "$2")" 2>/dev/null; then
            record "$1" "$(cat "$2")"
            return 0
        fi
        sleep 0.1
    done
    die "$1 did not start; see $DIR/log/$1.log"
}

# munge: a private key and socket, so this cluster shares nothing with a system munged.
# The socket's directory must be reachable by all, the key's private to munge.
chown munge:munge "$DIR/munge" "$DIR/munge-key" "$DIR/log"
chmod 755 "$DIR/munge"
chmod 700 "$DIR/munge-key"
head -c 1024 /dev/urandom > "$DIR/munge-key/munge.key"
chown munge:munge "$DIR/munge-key/munge.key"
chmod 400 "$DIR/munge-key/munge.key"
runuser -u munge -- munged --key-file="$DIR/munge-key/munge.key" --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge-key/munged.seed"
wait_for_pidfile munged "$DIR/munge/munged.pid"

# The node's topology as slurmd sees it, under the node name `localhost`.
topology=$(slurmd -C | head -1 | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=' | tr '\n' ' ')
gpus=$(( $(nproc) < 4 ? $(nproc) : 4 ))
sed -e "s|@DIR@|$DIR|g" -e "s|@TOPOLOGY@|$topology|" -e "s|@GPUS@|$gpus|" "$HERE/slurm.conf.in" > "$DIR/slurm.conf"
: > "$DIR/gres.conf"
for dev in $(echo /dev/null /dev/zero /dev/full /dev/urandom | cut -d' ' -f1-"$gpus"); do
    echo "NodeName=localhost Name=gpu File=$dev" >> "$DIR/gres.conf"
done
export SLURM_CONF="$DIR/slurm.conf"
mkdir -p /etc/slurm
ln -s "$SLURM_CONF" /etc/slurm/slurm.conf
echo "link /etc/slurm/slurm.conf" >> "$DIR/pids"

slurmctld -f "$SLURM_CONF"
wait_for_pidfile slurmctld "$DIR/slurmctld.pid"
slurmd -f "$SLURM_CONF" -N localhost
wait_for_pidfile slurmd "$DIR/slurmd.pid"

for _ in $(seq 1 150); do
    state=$(sinfo -h -N -n localhost -o '%T' 2>/dev/null || true)
    case "$state" in
        idle*) echo "SLURM cluster up in $DIR (node localhost: $state); export SLURM_CONF=$SLURM_CONF"; exit 0 ;;
    esac
    sleep 0.2
done
die "node 'localhost' is not idle after 30 s (state '${state:-unknown}'); see $DIR/log/"
