#!/bin/sh
# dracut emergency hook (sourced by dracut's emergency path when rd.shell is off, which is this
# module's default: /etc/cmdline.d/90-imageinit.conf). Without systemd, dracut's own action would
# run Debian's `reboot`, which is systemctl and fails without systemd; dracut's init then exits
# and the kernel panics. So the action is done here, by the kernel's sysrq trigger, after a sync.
# With systemd in the initramfs, `systemctl reboot` works and dracut's action is left to run.
[ -z "$DRACUT_SYSTEMD" ] || return 0
case "$(getarg rd.emergency)" in
    reboot) _imageinit_sysrq=b ;;
    poweroff) _imageinit_sysrq=o ;;
    *) return 0 ;;  # halt: dracut's own action
esac
warn "imageinit: no bootable slot and no shell (imageinit.shell not given): $(getarg rd.emergency)"
sync
echo "$_imageinit_sysrq" >/proc/sysrq-trigger
