// Cache lookups and layer unpacking with libarchive (tar, tar+gzip, tar+zstd). The blob is hashed
// and bounded in the same pass that unpacks it; every entry passes the entry policy and the
// unpacked-size budget before it is written; any failure throws the unpacked tree away.
#include "compose/layer_cache.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include "base/c_handle.h"
#include "base/unique_fd.h"
#include "compose/blob_reader.h"
#include "compose/entry_policy.h"
#include "compose/fs_util.h"
#include "compose/sha256.h"
#include "compose/whiteout.h"

namespace imageinit::compose {
namespace {

using ArchiveReader = CHandle<struct archive, archive_read_free>;
using ArchiveWriter = CHandle<struct archive, archive_write_free>;

// Owners, modes, xattrs and ACLs are kept; the SECURE flags refuse "..", absolute paths and
// writing through symlinks. No FFLAGS: an immutable bit would make the cache undeletable.
constexpr int kExtractFlags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                              ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL |
                              ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                              ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;

// Feeds libarchive from the verified blob stream; keeps the first error so it is the one reported
// (libarchive only sees "read failed").
struct BlobSource {
    BlobReader& blob;
    std::vector<char> buf = std::vector<char>(1 << 20);
    std::optional<Error> error;

    static la_ssize_t read_cb(struct archive* a, void* self, const void** out) {
        auto* s = static_cast<BlobSource*>(self);
        *out = s->buf.data();
        Result<size_t> n = s->blob.read(s->buf.data(), s->buf.size());
        if (!n) {
            s->error = n.error();
            archive_set_error(a, EIO, "%s", n.error().message.c_str());
            return -1;
        }
        return static_cast<la_ssize_t>(*n);
    }
};

bool has_capabilities(struct archive_entry* entry) {
    archive_entry_xattr_reset(entry);
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
        if (name && std::string_view(name) == "security.capability") return true;
    }
    return false;
}

// Restores the working directory on scope exit: archive_write_disk extracts relative to it.
class CwdGuard {
  public:
    explicit CwdGuard(UniqueFd saved) : saved_(std::move(saved)) {}
    ~CwdGuard() {
        if (saved_ && ::fchdir(saved_.get()) != 0) {
            // Nothing sensible to do: later paths are absolute.
        }
    }

  private:
    UniqueFd saved_;
};

std::string short_digest(const std::string& digest) { return digest.substr(0, 7 + 12); }

// A small cache file, written and closed with every error checked: a lost `dirs` or `size`
// would leave a layer in the cache that no later compose can use.
Result<void> write_cache_file(const std::string& path, const std::string& data) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return fail_errno("open", path);
    for (size_t done = 0; done < data.size();) {
        ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("write", path);
        done += static_cast<size_t>(n);
    }
    if (::close(fd.release()) != 0) return fail_errno("close", path);
    return ok();
}

// POSIX ACLs as tar carries them from umoci, buildah and GNU tar --acls: the xattrs
// SCHILY.xattr.system.posix_acl_access/_default. libarchive's disk writer skips these two names
// on Linux (it expects ACLs in its own headers), so they are set here, right after the entry
// was written: nothing later in the archive can have replaced its path yet.
bool is_posix_acl(const char* name) {
    return std::strcmp(name, "system.posix_acl_access") == 0 ||
           std::strcmp(name, "system.posix_acl_default") == 0;
}

Result<void> apply_posix_acls(struct archive_entry* entry, const std::string& path) {
    if (archive_entry_xattr_reset(entry) == 0) return ok();
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
        if (!name || !is_posix_acl(name)) continue;
        // Relative to the layer tree (the working directory) and never through a symlink.
        if (::lsetxattr(path.empty() ? "." : path.c_str(), name, value, size, 0) != 0)
            return fail_errno(std::string("lsetxattr ") + name, path);
    }
    return ok();
}

}  // namespace

Result<LayerCache> LayerCache::open(const std::string& root) {
    TRY(mkdir_p(root + "/layers/sha256", 0700));
    TRY(mkdir_p(root + "/tmp", 0700));
    // Absolute from here on: unpacking changes the working directory (a relative --cache
    // broke every compose: the cache files went nowhere).
    char* abs = ::realpath(root.c_str(), nullptr);
    if (!abs) return fail_errno("realpath", root);
    std::string absolute = abs;
    ::free(abs);
    return LayerCache(absolute);
}

std::string LayerCache::layer_dir(const Descriptor& d) const {
    return root_ + "/layers/sha256/" + d.hex;
}

Result<std::string> LayerCache::make_temp_dir(const std::string& prefix) {
    std::string tmpl = root_ + "/tmp/" + prefix + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) return fail_errno("mkdtemp", tmpl);
    return tmpl;
}

Result<CachedLayer> LayerCache::load(const Descriptor& d) const {
    CachedLayer c;
    c.digest = d.digest;
    c.tree = layer_dir(d) + "/tree";
    std::ifstream dirs(layer_dir(d) + "/dirs", std::ios::binary);
    if (!dirs) return fail_errno("open", layer_dir(d) + "/dirs");
    for (std::string line; std::getline(dirs, line, '\0');) c.explicit_dirs.insert(line);
    std::ifstream size(layer_dir(d) + "/size");
    if (!(size >> c.content_bytes))
        return fail(EINVAL, "'" + layer_dir(d) + "/size' is unreadable");
    // Entries the policy dropped when the layer was unpacked (absent in older caches).
    std::ifstream warnings(layer_dir(d) + "/warnings", std::ios::binary);
    for (std::string line; std::getline(warnings, line);) c.warnings.push_back(line);
    return c;
}

Result<CachedLayer> LayerCache::get(const std::string& layout_dir, const Layer& layer,
                                    UnpackBudget& budget) {
    const Descriptor& d = layer.desc;
    struct stat st;
    if (::stat((layer_dir(d) + "/tree").c_str(), &st) == 0) {
        auto c = load(d);
        if (c) {
            c->reused = true;
            return c;
        }
        // A layer without its `dirs`/`size` (left by a compose before those writes were
        // checked) is unpacked again rather than failing every compose from now on.
        if (c.error().code != ENOENT && c.error().code != EINVAL)
            return Unexpected(with_context(c.error(), "layer cache " + short_digest(d.digest)));
        TRY(remove_tree(layer_dir(d)));
    }
    std::string partial = TRY(make_temp_dir("layer-" + d.hex.substr(0, 12)));
    CachedLayer c;
    c.digest = d.digest;
    Result<void> r = unpack(layout_dir, layer, partial, budget, c);
    if (r) {
        // Another compose may have won the race: then keep its copy, drop ours.
        if (::rename(partial.c_str(), layer_dir(d).c_str()) != 0 && errno != EEXIST &&
            errno != ENOTEMPTY)
            r = fail_errno("rename", layer_dir(d));
    }
    if (::access(partial.c_str(), F_OK) == 0) (void)remove_tree(partial);
    if (!r) return Unexpected(std::move(r).error());
    CachedLayer loaded = TRY(load(d));
    loaded.blob_bytes = c.blob_bytes;
    return loaded;
}

Result<void> LayerCache::unpack(const std::string& layout_dir, const Layer& layer,
                                const std::string& dest, UnpackBudget& budget, CachedLayer& out) {
    const Descriptor& d = layer.desc;
    BlobReader blob = TRY(BlobReader::open(layout_dir, d));
    BlobSource src{blob};

    std::string tree = dest + "/tree";
    if (::mkdir(tree.c_str(), 0755) != 0) return fail_errno("mkdir", tree);
    UniqueFd saved_cwd(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!saved_cwd) return fail_errno("open", ".");
    if (::chdir(tree.c_str()) != 0) return fail_errno("chdir", tree);
    CwdGuard cwd_guard(std::move(saved_cwd));

    ArchiveReader in(archive_read_new());
    ArchiveWriter disk(archive_write_disk_new());
    if (!in || !disk) return fail(ENOMEM, "libarchive: out of memory");
    archive_read_support_filter_gzip(in.get());
    archive_read_support_filter_zstd(in.get());
    archive_read_support_format_tar(in.get());
    archive_write_disk_set_options(disk.get(), kExtractFlags);
    // No archive_write_disk_set_standard_lookup: owners stay numeric, as the image means them,
    // not remapped through this build host's /etc/passwd.
    std::string what = "layer " + d.digest;
    std::string dirs;
    std::string warnings;
    std::map<std::string, mode_t> devices;  // device nodes kept, for hard links to them
    std::set<std::string> dropped;
    auto extract = [&]() -> Result<void> {
        if (archive_read_open(in.get(), &src, nullptr, BlobSource::read_cb, nullptr) != ARCHIVE_OK)
            return fail(what + ": " + archive_error_string(in.get()));
        for (;;) {
            struct archive_entry* entry = nullptr;
            int rc = archive_read_next_header(in.get(), &entry);
            if (rc == ARCHIVE_EOF) break;
            if (rc < ARCHIVE_WARN) return fail(what + ": " + archive_error_string(in.get()));
            EntryDecision dec = classify_entry(archive_entry_pathname(entry));
            if (dec.kind == EntryKind::kReject) return fail(what + ": " + dec.reason);
            if (dec.kind == EntryKind::kIgnore) continue;
            archive_entry_set_pathname(entry, dec.path.empty() ? "." : dec.path.c_str());
            TarEntryInfo info;
            info.path = dec.path;
            info.type = archive_entry_filetype(entry);
            info.mode = archive_entry_perm(entry);
            info.has_capabilities = has_capabilities(entry);
            if (const char* link = archive_entry_hardlink(entry)) {
                auto target = normalize_entry_path(link);
                if (!target || target->empty())
                    return fail(what + ": hard link '" + dec.path + "' points outside the layer");
                archive_entry_set_hardlink(entry, target->c_str());
                info.hardlink = true;
                info.target_dropped = dropped.count(*target) != 0;
                if (auto it = devices.find(*target); it != devices.end()) info.type = it->second;
            }
            PolicyDecision policy = apply_entry_policy(info);
            if (policy.action == EntryAction::kDrop) {
                dropped.insert(dec.path);
                warnings += what + ": " + policy.warning + "\n";
                continue;
            }
            if (!info.hardlink && (S_ISCHR(info.type) || S_ISBLK(info.type)))
                devices.emplace(dec.path, info.type);
            // Declared sizes, before a byte is written: a sparse file counts at its apparent
            // size, so a 64 GiB hole is refused here rather than read by mkfs for a minute.
            uint64_t size = archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0
                                ? static_cast<uint64_t>(archive_entry_size(entry))
                                : 0;
            TRY(budget.charge(size, d.digest, dec.path));
            if (archive_entry_filetype(entry) == AE_IFDIR) dirs += dec.path + '\0';
            if (archive_entry_filetype(entry) == AE_IFREG) out.content_bytes += size;
            // Warnings count: libarchive reports a refused write through a symlink, or an
            // owner or xattr it could not set, as ARCHIVE_WARN, and a silently incomplete
            // layer would make a wrong image.
            rc = archive_read_extract2(in.get(), entry, disk.get());
            if (rc != ARCHIVE_OK) {
                if (src.error) return Unexpected(*src.error);
                return fail(what + ": '" + dec.path + "': " + archive_error_string(in.get()));
            }
            TRY_CTX(apply_posix_acls(entry, dec.path), what);
        }
        if (archive_write_close(disk.get()) != ARCHIVE_OK)
            return fail(what + ": " + archive_error_string(disk.get()));
        return ok();
    };
    Result<void> extracted = extract();
    if (!extracted && src.error) return Unexpected(*src.error);
    // Read whatever the tar reader did not need (end-of-archive padding, or everything after a
    // corrupt spot; bounded by the descriptor's size) so the digest covers the whole blob: a
    // mismatch is the error worth naming.
    TRY(blob.finish());
    out.blob_bytes = blob.bytes();
    if (!extracted) return extracted;
    TRY(write_cache_file(dest + "/dirs", dirs));
    TRY(write_cache_file(dest + "/warnings", warnings));
    return write_cache_file(dest + "/size", std::to_string(out.content_bytes));
}

}  // namespace imageinit::compose
