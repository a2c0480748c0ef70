#!/bin/sh
# dracut cmdline hook: root=imageinit means imageinit mounts the new root (slot choice,
# fallback, mounts); claim it so dracut does not look for a root device itself.
if [ "$(getarg root=)" = imageinit ]; then
    # shellcheck disable=SC2034  # read by dracut after the cmdline hooks
    rootok=1
    root=imageinit
fi

# dracut opens no shell on a failure (rd.shell=0 rd.emergency=reboot in
# /etc/cmdline.d/90-imageinit.conf) unless imageinit.shell asks for one (docs/security.md).
# dracut reads /etc/cmdline.d each time it looks at an argument, the kernel command line last.
if getargbool 0 imageinit.shell; then
    echo "rd.shell=1" >/etc/cmdline.d/99-imageinit-shell.conf
fi
