#!/bin/sh
# dracut cmdline hook: root=imageinit means imageinit mounts the new root (slot choice,
# fallback, mounts); claim it so dracut does not look for a root device itself.
if [ "$(getarg root=)" = imageinit ]; then
    # shellcheck disable=SC2034  # read by dracut after the cmdline hooks
    rootok=1
    root=imageinit
fi
