// Tool invocations. erofs uses lz4hc because the target kernel's erofs has lz4 but not LZMA;
// squashfs uses gzip, which every squashfs-capable kernel reads.
#include "compose/mkfs.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "base/unique_fd.h"

namespace imageinit::compose {

std::vector<std::string> mkfs_argv(const MkfsOptions& opts, const std::string& source_dir,
                                   const std::string& image) {
    std::string epoch = std::to_string(opts.epoch);
    if (opts.format == ImageFormat::kErofs) {
        std::string comp = opts.compression.empty() ? "lz4hc" : opts.compression;
        // -T fixes every inode's time and the superblock's build time; -U the UUID. Owners and
        // xattrs are kept (no --all-root, no -x-1).
        return {"mkfs.erofs", "-z" + comp, "-T" + epoch, "-U" + opts.uuid,
                "--quiet",    image,       source_dir};
    }
    std::string comp = opts.compression.empty() ? "gzip" : opts.compression;
    // mksquashfs sorts directories and is reproducible by default (4.4+); the times are the
    // only input that varies between runs. Xattrs are kept (the default).
    return {"mksquashfs", source_dir,   image, "-noappend",    "-comp",  comp,          "-all-time",
            epoch,        "-mkfs-time", epoch, "-no-progress", "-quiet", "-processors", "2"};
}

std::string mkfs_failure(const std::string& tool, const RunOutput& out, size_t tree_depth) {
    std::string msg = out.output;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    size_t last = msg.rfind('\n');
    if (last != std::string::npos) msg = msg.substr(last + 1);
    if (out.signal == 0) return tool + " exited with " + std::to_string(out.exit_code) + ": " + msg;
    std::string text = tool + " killed by signal " + std::to_string(out.signal) + " (" +
                       strsignal(out.signal) + "): " + msg;
    // mkfs.erofs 1.5 and mksquashfs walk the source tree recursively: a deep enough tree
    // overflows their stack (SIGSEGV), a huge one their memory (SIGKILL from the OOM killer).
    if (out.signal == SIGSEGV || out.signal == SIGBUS) {
        text += "; hint: mkfs may have overflowed its stack";
        if (tree_depth >= kDeepTree)
            text += " on a tree " + std::to_string(tree_depth) + " levels deep";
    } else if (out.signal == SIGKILL) {
        text += "; hint: the out-of-memory killer may have ended it (a tree too large?)";
    }
    return text;
}

Result<void> make_image(const MkfsOptions& opts, const std::string& source_dir,
                        const std::string& image, size_t tree_depth) {
    std::vector<std::string> argv = mkfs_argv(opts, source_dir, image);
    // mksquashfs refuses SOURCE_DATE_EPOCH together with -all-time; the epoch is already in
    // the arguments.
    RunOutput out = TRY(run(argv, true, {"SOURCE_DATE_EPOCH"}));
    if (out.exit_code != 0) return fail(mkfs_failure(argv[0], out, tree_depth));
    return ok();
}

std::string uuid_from_hex(std::string_view hex) {
    std::string h(hex.substr(0, 32));
    h.resize(32, '0');
    h[12] = '4';                                                          // version 4 layout
    h[16] = "89ab"[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3];  // RFC 4122 variant
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20, 12);
}

std::vector<std::string> verity_argv(const std::string& image, const std::string& hash_file,
                                     const std::string& salt_hex, const std::string& uuid) {
    // Salt and UUID fixed (derived from the input) so the hash tree is reproducible too.
    return {"veritysetup", "format", "--salt=" + salt_hex, "--uuid=" + uuid, image, hash_file};
}

std::string parse_root_hash(std::string_view output) {
    constexpr std::string_view kKey = "Root hash:";
    size_t pos = output.find(kKey);
    if (pos == std::string_view::npos) return {};
    pos += kKey.size();
    while (pos < output.size() && (output[pos] == ' ' || output[pos] == '\t')) ++pos;
    size_t end = pos;
    while (end < output.size() && std::isxdigit(static_cast<unsigned char>(output[end]))) ++end;
    return std::string(output.substr(pos, end - pos));
}

Result<std::string> make_verity(const std::string& image, const std::string& hash_file,
                                const std::string& salt_hex, const std::string& uuid) {
    UniqueFd fd(::open(hash_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return fail_errno("create", hash_file);
    fd.reset();
    std::vector<std::string> argv = verity_argv(image, hash_file, salt_hex, uuid);
    RunOutput out = TRY(run(argv, true));
    if (out.exit_code != 0)
        return fail("veritysetup format exited with " + std::to_string(out.exit_code) + ": " +
                    out.output);
    std::string root = parse_root_hash(out.output);
    if (root.empty()) return fail("veritysetup format printed no root hash");
    return root;
}

CheckResult classify_check(int image_exit, std::string_view image_output, int probe_exit) {
    CheckResult r;
    r.detail = std::string(image_output);
    while (!r.detail.empty() && r.detail.back() == '\n') r.detail.pop_back();
    if (image_exit == 126 || image_exit == 127) {
        r.outcome = CheckOutcome::kUnavailable;
        r.detail = "imageinit could not be run";
    } else if (image_exit != 0) {
        bool missing = image_output.find("not implemented") != std::string_view::npos ||
                       image_output.find("unknown command") != std::string_view::npos;
        r.outcome = missing ? CheckOutcome::kUnavailable : CheckOutcome::kFailed;
    } else if (probe_exit == 0) {
        r.outcome = CheckOutcome::kUnavailable;
        r.detail = "'imageinit check' accepts /dev/null: not implemented yet";
    } else {
        r.outcome = CheckOutcome::kPassed;
    }
    return r;
}

Result<CheckResult> run_check(const std::string& imageinit, const std::string& image) {
    if (imageinit.empty() || ::access(imageinit.c_str(), X_OK) != 0) {
        CheckResult r;
        r.detail = imageinit.empty() ? "imageinit not found (not built yet?)"
                                     : "'" + imageinit + "' is not executable";
        return r;
    }
    // The lint only: the machine composing may itself trust certificates (an imageinit device),
    // and the image is signed after this, if at all.
    RunOutput on_image = TRY(run({imageinit, "check", image, "--no-trust"}, true));
    int probe_exit = 1;
    if (on_image.exit_code == 0)
        probe_exit = TRY(run({imageinit, "check", "/dev/null"}, true)).exit_code;
    return classify_check(on_image.exit_code, on_image.output, probe_exit);
}

std::string find_imageinit(const std::string& self_exe) {
    size_t slash = self_exe.rfind('/');
    std::string dir = slash == std::string::npos ? "." : self_exe.substr(0, slash);
    // Next to it, the build tree's layout (build/src/compose/ -> build/src/), then where
    // `meson install` put imageinit (sbindir, while imageinit-compose is in bindir).
    for (std::string candidate :
         {dir + "/imageinit", dir + "/../imageinit", std::string(IMAGEINIT_INSTALLED_PATH)}) {
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

}  // namespace imageinit::compose
