#!/bin/sh
# dracut mount hook (non-systemd initramfs): sourced by dracut's init until $NEWROOT is mounted.
# imageinit chooses the slot, mounts it and everything of its spec on /sysroot, runs the hooks
# and writes the boot report; dracut's init then switches root.
[ "$root" = imageinit ] || return 0
if ! /usr/bin/imageinit dracut-mount; then
    # Every slot failed: retrying (dracut calls mount hooks up to 20 times) cannot help.
    emergency_shell -n imageinit "imageinit: no bootable slot (see the kernel log)"
fi
