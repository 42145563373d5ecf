#!/usr/bin/env bash
# Install what tests/slurm/start.sh needs (Debian/Ubuntu, as root): munge and SLURM's
# controller, node daemon and clients. The packages start no daemon by themselves here.
set -euo pipefail
missing=0
for bin in munged slurmctld slurmd sbatch; do command -v "$bin" >/dev/null || missing=1; done
[ "$missing" -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "install.sh: SLURM packages missing and not root; skipping" >&2; exit 0; }
command -v apt-get >/dev/null || { echo "install.sh: no apt-get; install munge and slurm yourself" >&2; exit 0; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends munge slurm-client slurmctld slurmd >/dev/null
