// dm-verity sidecars of slot images (see verity_sidecars.h).
#include "cli/verity_sidecars.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/files.h"
#include "os/safe_open.h"
#include "os/verity.h"

namespace imageinit::cli {
namespace {

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A sidecar is read as any file beside an image: never blocking, regular files only.
Result<std::string> read_sidecar(const std::string& path, size_t max_bytes) {
    return os::read_checked(AT_FDCWD, path, os::Scope::kHost, max_bytes);
}

Result<void> write_text(const std::string& path, const std::string& text) {
    std::string tmp = path + ".new";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) return fail_errno("open", tmp);
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        return fail_errno("write", tmp);
    if (::fsync(fd.get()) < 0) return fail_errno("fsync", tmp);
    if (::rename(tmp.c_str(), path.c_str()) < 0) return fail_errno("rename", path);
    return ok();
}

Result<void> copy_file(const std::string& from, const std::string& to) {
    std::string text = TRY(read_sidecar(from, size_t(1) << 31));
    return write_text(to, text);
}

}  // namespace

Result<std::string> write_verity_sidecars(const std::string& source_image,
                                          const std::string& slot_image) {
    std::string tree = slot_image + ".verity", hash_file = slot_image + ".roothash";
    std::string given_tree = source_image + ".verity", given_hash = source_image + ".roothash";
    std::string roothash;
    const bool given = exists(given_tree) && exists(given_hash);
    if (given) {
        // Given sidecars (built with the image, e.g. by `veritysetup format`): checked first, so
        // a tree that does not match is refused rather than installed as a slot that cannot boot.
        std::string text = TRY(read_sidecar(given_hash, 1024));
        roothash = TRY(os::parse_roothash(text));
        TRY_CTX(os::verity_verify(slot_image, given_tree, roothash), "given sidecars");
        TRY(copy_file(given_tree, tree));
    } else {
        std::string tmp = tree + ".new";
        auto r = os::verity_format(slot_image, tmp);
        if (!r) {
            ::unlink(tmp.c_str());
            return Unexpected(std::move(r).error());
        }
        roothash = *r;
        if (::rename(tmp.c_str(), tree.c_str()) < 0) return fail_errno("rename", tree);
    }
    TRY(write_text(hash_file, roothash + "\n"));
    // A signature of the root hash (imageinit sign) travels with it; the boot checks it.
    if (given && exists(source_image + ".roothash.p7s"))
        TRY(copy_file(source_image + ".roothash.p7s", slot_image + ".roothash.p7s"));
    // What is on the disk now must verify, as the image itself was read back after writing.
    TRY_CTX(os::verity_verify(slot_image, tree, roothash), "after writing");
    return roothash;
}

Result<void> remove_verity_sidecars(const std::string& slot_image) {
    for (const char* ext : {".verity", ".roothash", ".roothash.p7s"}) {
        std::string p = slot_image + ext;
        if (::unlink(p.c_str()) < 0 && errno != ENOENT) return fail_errno("unlink", p);
    }
    return ok();
}

Result<std::optional<std::string>> check_verity_sidecars(const std::string& image,
                                                         const std::string& roothash) {
    std::string tree = image + ".verity", hash_file = image + ".roothash";
    if (!exists(tree) && !exists(hash_file) && roothash.empty()) return std::nullopt;
    if (!exists(tree)) return fail(ENOENT, "root hash given but no hash tree '" + tree + "'");
    std::string hex = roothash;
    if (hex.empty()) hex = TRY(read_sidecar(hash_file, 1024));
    hex = TRY(os::parse_roothash(hex));
    TRY(os::verity_verify(image, tree, hex));
    return std::optional<std::string>(hex);
}

}  // namespace imageinit::cli
