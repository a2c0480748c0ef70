# Shared by the shipped hooks (sourced, not run): messages, the persistent store, and putting a
# file into the new root. Not executable, so imageinit never runs it as a hook.

# Messages go to the console (imageinit lets hooks inherit it) and name the hook.
say() { echo "imageinit hook ${0##*/}: $*" >&2; }

# The hooks' own directory on the persistent partition (not a spec path, so never bind-mounted
# into the booted system by accident). Empty when the boot is degraded.
store_dir() {
    [ -n "${IMAGEINIT_PERSIST:-}" ] || return 1
    d=$IMAGEINIT_PERSIST/imageinit/hooks/$1
    mkdir -p "$d" && chmod 0700 "$IMAGEINIT_PERSIST/imageinit/hooks" && echo "$d"
}

# place SRC DEST MODE: make the new root's DEST (a path inside it) show SRC's content. Copies
# when the directory is writable (a temporary or persistent overlay), else bind-mounts SRC over
# an existing DEST (the read-only image carries an empty placeholder). Never follows a symlink
# at DEST: it would point into the initramfs, not into the image.
place() {
    src=$1 dest=$IMAGEINIT_ROOT$2 mode=$3
    if [ -L "$dest" ]; then say "$2 is a symlink in the image: not touching it"; return 1; fi
    tmp=$dest.imageinit-tmp
    if cp "$src" "$tmp" 2>/dev/null; then
        chmod "$mode" "$tmp" && mv -f "$tmp" "$dest" && return 0
        rm -f "$tmp"
    fi
    if [ -f "$dest" ]; then
        mount --bind "$src" "$dest" && return 0
    fi
    say "cannot place $2: its directory is read-only and the image has no file there to bind over"
    return 1
}
