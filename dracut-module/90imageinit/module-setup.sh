#!/bin/bash
# dracut module "imageinit": boot A/B slot images with imageinit inside a dracut initramfs,
# systemd-based (imageinit-root.service before initrd-root-fs.target) or not (a mount hook).
# Select it with root=imageinit on the kernel command line. See docs/dracut.md.
#
# Settings (dracut.conf.d or the environment of the dracut run):
#   imageinit_binary     the imageinit binary to install (default: the one in PATH)
#   imageinit_hooks_dir  the hooks to install (default: /usr/lib/imageinit/hooks)
#   imageinit_keyfile    a key file for a LUKS2 persistent partition (installed mode 0400)

imageinit_binary_path() {
    local b=${imageinit_binary:-${IMAGEINIT_BINARY:-}}
    [[ -n $b ]] || b=$(command -v imageinit 2>/dev/null)
    echo "$b"
}

# called by dracut
check() {
    local b
    b=$(imageinit_binary_path)
    if [[ -z $b || ! -x $b ]]; then
        derror "imageinit: no imageinit binary (set imageinit_binary= or put it in PATH)"
        return 1
    fi
    # Never included by --hostonly guessing: a distribution asks for it (add_dracutmodules).
    return 255
}

# called by dracut
depends() {
    # base: the init and its shell library; fs-lib is not needed (imageinit mounts itself).
    echo base
    return 0
}

# called by dracut
installkernel() {
    # Loaded by imageinit from /etc/imageinit/modules; ext4 wants a crc32c first.
    instmods loop squashfs erofs overlay ext4 crc32c_generic \
        virtio_blk virtio_pci nvme ahci sd_mod usb-storage mmc_block
    instmods -o dm-mod dm-verity dm-crypt
}

# called by dracut
install() {
    local b hooks stage f
    b=$(imageinit_binary_path)
    # inst_binary resolves and installs the shared libraries (ldd) with it.
    inst_binary "$b" /usr/bin/imageinit

    mkdir -p "$initdir/etc/imageinit"
    printf '%s\n' crc32c_generic loop squashfs erofs overlay ext4 >"$initdir/etc/imageinit/modules"

    hooks=${imageinit_hooks_dir:-${IMAGEINIT_HOOKS_DIR:-/usr/lib/imageinit/hooks}}
    if [[ -d $hooks ]]; then
        for stage in pre-mount pre-pivot; do
            [[ -d $hooks/$stage ]] || continue
            inst_dir /usr/lib/imageinit/hooks/$stage
            for f in "$hooks/$stage"/*; do
                [[ -f $f && -x $f ]] || continue
                inst_simple "$f" "/usr/lib/imageinit/hooks/$stage/${f##*/}"
            done
        done
        [[ ! -f $hooks/lib.sh ]] || inst_simple "$hooks/lib.sh" /usr/lib/imageinit/hooks/lib.sh
    fi
    # What the shipped hooks use (optional: each hook says what it skips without them).
    inst_multiple -o resize2fs ssh-keygen chroot awk tr wc cp mv grep mount sync dirname df chmod mkdir rm

    local key=${imageinit_keyfile:-}
    if [[ -n $key ]]; then
        inst_simple "$key" /etc/imageinit/keyfile
        chmod 0400 "$initdir/etc/imageinit/keyfile"
    fi

    # No shell on a failure unless imageinit.shell is given (the cmdline hook turns it back
    # on): dracut reads these defaults before the kernel command line. The emergency hooks
    # reboot without systemd (Debian's `reboot` is systemctl); see imageinit-emergency.sh.
    mkdir -p "$initdir/etc/cmdline.d"
    echo "rd.shell=0 rd.emergency=reboot" >"$initdir/etc/cmdline.d/90-imageinit.conf"
    inst_hook emergency 99 "$moddir/imageinit-emergency.sh"
    inst_multiple -o sync

    # root=imageinit is ours in both flavours.
    inst_hook cmdline 90 "$moddir/imageinit-cmdline.sh"
    if dracut_module_included "systemd"; then
        inst_simple "$moddir/imageinit-root.service" "$systemdsystemunitdir/imageinit-root.service"
        inst_simple "$moddir/sysroot-mount-imageinit.conf" \
            "$systemdsystemunitdir/sysroot.mount.d/imageinit.conf"
        $SYSTEMCTL -q --root "$initdir" add-wants initrd-root-fs.target imageinit-root.service
    else
        # dracut's init sources the mount hooks until $NEWROOT is mounted.
        inst_hook mount 90 "$moddir/imageinit-mount.sh"
    fi
}
