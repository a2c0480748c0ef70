// Bounded, hashing reads of layer blobs (see blob_reader.h).
#include "compose/blob_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace imageinit::compose {

Result<BlobReader> BlobReader::open(const std::string& layout_dir, const Descriptor& d) {
    std::string path = blob_path(layout_dir, d);
    // O_NONBLOCK: opening a fifo for reading would otherwise wait for a writer forever.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return fail(errno, "blob " + d.digest + " is missing");
        return fail_errno("open blob " + d.digest, path);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return fail_errno("stat blob " + d.digest, path);
    if (!S_ISREG(st.st_mode))
        return fail("blob " + d.digest + " is not a regular file (a fifo, device or directory)");
    if (st.st_size != d.size)
        return fail("blob " + d.digest + " is " + std::to_string(st.st_size) +
                    " bytes, the descriptor says " + std::to_string(d.size));
    // A regular file never blocks; clear the flag so reads behave as usual.
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
        return fail_errno("fcntl blob " + d.digest, path);
    BlobReader r(std::move(fd), d);
    if (!r.verifier_.valid()) return fail("sha256: libcrypto context allocation failed");
    return r;
}

BlobReader::BlobReader(UniqueFd fd, const Descriptor& d)
    : fd_(std::move(fd)), digest_(d.digest), verifier_(d) {}

Result<size_t> BlobReader::read(char* buf, size_t cap) {
    // One byte more than the descriptor allows is asked for, so a longer blob shows at once.
    uint64_t room = verifier_.remaining() + 1;
    size_t want = cap < room ? cap : static_cast<size_t>(room);
    for (;;) {
        ssize_t n = ::read(fd_.get(), buf, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno, "layer " + digest_ + ": read: " + std::strerror(errno));
        TRY(verifier_.update(buf, static_cast<size_t>(n)));
        return static_cast<size_t>(n);
    }
}

Result<void> BlobReader::finish() {
    char buf[65536];
    while (TRY(read(buf, sizeof buf)) != 0) {
    }
    return verifier_.finish();
}

}  // namespace imageinit::compose
