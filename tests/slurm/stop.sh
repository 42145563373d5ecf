#!/usr/bin/env bash
# Stop the daemons tests/slurm/start.sh started, and nothing else: each pid recorded in
# STATE_DIR/pids is signalled only if it still runs the daemon recorded with it.
#
#   tests/slurm/stop.sh [STATE_DIR]         (default: $SPADE_SLURM_DIR or /tmp/spade-slurm)
set -uo pipefail

DIR=${1:-${SPADE_SLURM_DIR:-/tmp/spade-slurm}}
[ -f "$DIR/pids" ] || { echo "stop.sh: no $DIR/pids, nothing to stop"; exit 0; }

if [ -f "$DIR/slurm.conf" ] && command -v scancel >/dev/null; then
    SLURM_CONF="$DIR/slurm.conf" timeout 10 scancel --user "$(id -un)" 2>/dev/null || true
fi

ours() {  # pid name: is pid alive and still that daemon?
    [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q "$2"
}

# Reverse start order: slurmd, slurmctld, the configuration link, then munged.
tac "$DIR/pids" | while read -r name pid; do
    if [ "$name" = link ]; then
        # remove the link only while it still points into this state directory
        if [ -L "$pid" ] && [ "$(readlink "$pid")" = "$DIR/slurm.conf" ]; then rm -f "$pid"; echo "stop.sh: removed $pid"; fi
        continue
    fi
    if ours "$pid" "$name"; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do ours "$pid" "$name" || break; sleep 0.1; done
        if ours "$pid" "$name"; then kill -KILL "$pid"; echo "stop.sh: killed $name ($pid)"; else echo "stop.sh: stopped $name ($pid)"; fi
    fi
done
rm -f "$DIR/pids"
