#!/bin/sh
# Makes an installed Ubuntu VM generic before its disk becomes the golden disk that later
# Ubuntu VMs start from (a differencing disk each, with a NoCloud seed of their own). Run as
# root over SSH; the VM is shut down by the host (Stop-VM) afterwards, nothing runs after this.
#
# - cloud-init clean --logs --machine-id --seed: cloud-init forgets this instance (its state
#   under /var/lib/cloud, its logs, the seed it copied) so the next boot is a first boot, and
#   sets /etc/machine-id to "uninitialized" so systemd makes a new one on that boot
#   (cloud-init(1) "clean: Remove logs and artifacts so cloud-init can re-run"; the CLI
#   reference documents --logs, --machine-id and --seed).
# - the SSH host keys: each VM gets its own (the one in its seed); a golden disk with keys
#   would give every VM the same identity.
# - the installer's own cloud-init configuration (subiquity writes the autoinstall's
#   user-data and network into /etc/cloud/cloud.cfg.d/ and netplan): left in place, every VM
#   of the golden disk would come up as the first one, with its address and user, whatever
#   its seed says.
set -eu
cloud-init clean --logs --machine-id --seed
rm -f /etc/ssh/ssh_host_*
rm -f /etc/cloud/cloud.cfg.d/99-installer.cfg /etc/cloud/cloud.cfg.d/90-installer-network.cfg
rm -f /etc/netplan/50-cloud-init.yaml /etc/netplan/00-installer-config.yaml
# /var/lib/dbus/machine-id is a link to /etc/machine-id on Ubuntu; an old copy would outlive it
if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then rm -f /var/lib/dbus/machine-id; fi
sync
echo generalized
