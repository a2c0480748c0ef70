#!/bin/bash
# dracut module "imageinit": boot A/B slot images with imageinit inside a dracut initramfs,
# systemd-based (imageinit-root.service before initrd-root-fs.target) or not (a mount hook).
# Select it with root=imageinit on the kernel command line. See docs/dracut.md.
#
# Settings (dracut.conf.d or the environment of the dracut run):
#   imageinit_binary     the imageinit binary to install (default: where meson installed it,
#                        from imageinit-paths.sh; without that file, the one in PATH)
#   imageinit_hooks_dir  the hooks to install (default: /usr/lib/imageinit/hooks)
#   imageinit_keyfile    a key file for a LUKS2 persistent partition (installed mode 0400)
#   imageinit_trust      trusted certificates (PEM files or globs, space-separated; default:
#                        /etc/imageinit/trust.d/*.pem). With any, only signed slots boot.

# Where `meson install` put imageinit and the hooks: imageinit-paths.sh, written by
# dracut-module/meson.build (absent in the source tree). dracut sets $moddir when it calls us.
imageinit_installed_paths() {
    imageinit_installed_binary='' imageinit_installed_hooks_dir=/usr/lib/imageinit/hooks
    # shellcheck source=/dev/null
    [[ ! -f $moddir/imageinit-paths.sh ]] || . "$moddir/imageinit-paths.sh"
}

imageinit_binary_path() {
    imageinit_installed_paths
    local b=${imageinit_binary:-${IMAGEINIT_BINARY:-$imageinit_installed_binary}}
    # dracut's PATH is /usr/sbin:/usr/bin:/sbin:/bin: a /usr/local install is not in it.
    [[ -n $b ]] || b=$(command -v imageinit 2>/dev/null)
    echo "$b"
}

# The certificates to trust, one per line: imageinit_trust's words, globs expanded (a glob that
# matches nothing is no certificate: the default drop-in folder is usually empty).
imageinit_trust_files() {
    local word f
    # shellcheck disable=SC2086  # word splitting and globbing of the setting are its syntax
    for word in ${imageinit_trust-/etc/imageinit/trust.d/*.pem}; do
        if [[ $word == *[*?[]* ]]; then
            for f in $word; do [[ ! -e $f ]] || echo "$f"; done
        else
            echo "$word"
        fi
    done
}

# Installs library LIB (a soname imageinit dlopens) and what it links. dracut-install follows
# the libraries of executables only, and Debian's libraries are not executable.
imageinit_inst_dlopened() {
    local dir path='' dep
    for dir in $libdirs; do
        [[ -e $dracutsysrootdir$dir/$1 ]] && path=$dir/$1 && break
    done
    [[ -n $path ]] || return 1
    inst_library "$path" || return 1
    for dep in $(ldd "$dracutsysrootdir$path" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do
        inst_library "${dep#"$dracutsysrootdir"}" || return 1
    done
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

    imageinit_installed_paths
    hooks=${imageinit_hooks_dir:-${IMAGEINIT_HOOKS_DIR:-$imageinit_installed_hooks_dir}}
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

    # Signed slots (docs/integrity.md, "Signed slots"): the certificates go where mkinitrd --trust
    # puts them, and PID 1's verity step then refuses every slot without a root hash signed by
    # one of them. libcrypto (the verification) and libcryptsetup (dm-verity) are dlopen'ed,
    # so ldd of the binary does not bring them.
    local certs=() c
    mapfile -t certs < <(imageinit_trust_files)
    if ((${#certs[@]})); then
        for c in "${certs[@]}"; do
            if [[ ! -r $c ]] || ! grep -q -- '-----BEGIN CERTIFICATE-----' "$c"; then
                dfatal "imageinit: imageinit_trust: '$c' is not a readable PEM certificate"
                return 1
            fi
        done
        cat "${certs[@]}" >"$initdir/etc/imageinit/trust.pem"
        chmod 0644 "$initdir/etc/imageinit/trust.pem"
        for c in libcrypto.so.3 libcryptsetup.so.12; do
            if ! imageinit_inst_dlopened "$c"; then
                dfatal "imageinit: imageinit_trust needs $c (libssl3, libcryptsetup12)"
                return 1
            fi
        done
        dinfo "imageinit: trusting ${#certs[@]} certificate(s): only signed slots will boot"
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
