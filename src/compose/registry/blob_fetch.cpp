// Blob downloads: one verified writer per blob, a small pool of threads each with its own
// libcurl handle, a Range request to resume (distribution-spec "pulling blobs" allows it).
#include "compose/registry/blob_fetch.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "compose/fs_util.h"

namespace imageinit::compose::registry {
namespace {

constexpr int kMaxJobs = 16;
constexpr int kMaxResumes = 5;  // a stream that keeps breaking: resume this often, then fail

using Clock = std::chrono::steady_clock;

std::string short_digest(const std::string& digest) { return digest.substr(0, 7 + 12) + "…"; }

Result<void> fsync_dir(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return fail_errno("open", dir);
    if (::fsync(fd.get()) != 0) return fail_errno("fsync", dir);
    return ok();
}

// Shared by the download threads: progress for the terminal line, and the first error.
struct Board {
    std::mutex mu;
    std::vector<std::atomic<uint64_t>> done;
    std::vector<uint64_t> total;
    std::vector<bool> active;
    bool tty = false;
    Clock::time_point last_draw;

    explicit Board(size_t n) : done(n), total(n), active(n) {}

    void draw_locked(bool force) {
        if (!tty) return;
        auto now = Clock::now();
        if (!force && now - last_draw < std::chrono::milliseconds(250)) return;
        last_draw = now;
        std::string line;
        for (size_t i = 0; i < done.size(); ++i) {
            if (!active[i]) continue;
            char part[64];
            std::snprintf(part, sizeof part, " [%zu: %.1f/%.1f MB]", i + 1, done[i] / 1e6,
                          total[i] / 1e6);
            line += part;
        }
        std::fprintf(stderr, "\r\033[Kdownloading%s", line.c_str());
        std::fflush(stderr);
    }
    void line(const std::string& text) {
        std::lock_guard lock(mu);
        if (tty) std::fprintf(stderr, "\r\033[K");
        std::printf("%s\n", text.c_str());
        std::fflush(stdout);
        draw_locked(true);
    }
};

Result<uint64_t> fetch_one(Registry& registry, HttpClient& http, const Descriptor& d,
                           const std::string& cache_root, Board& board, size_t index,
                           uint64_t& resumed_from) {
    std::string final_path = cached_blob_path(cache_root, d);
    std::string partial = cache_root + "/tmp/blob-" + d.hex + ".partial";
    VerifiedBlobWriter w = TRY(VerifiedBlobWriter::open(partial, d));
    struct stat st;
    if (::stat(final_path.c_str(), &st) == 0) return uint64_t{0};  // another process finished it
    resumed_from = w.bytes();
    uint64_t start = w.bytes();
    board.total[index] = static_cast<uint64_t>(d.size);
    board.done[index] = start;
    {
        std::lock_guard lock(board.mu);
        board.active[index] = true;
    }
    for (int round = 0; w.bytes() < static_cast<uint64_t>(d.size); ++round) {
        uint64_t offset = w.bytes();
        bool first_chunk = true;
        auto headers = [&] {
            first_chunk = true;
            offset = w.bytes();
            std::vector<std::string> h;
            if (offset > 0) h.push_back("Range: bytes=" + std::to_string(offset) + "-");
            return h;
        };
        BodySink sink = [&](const HttpResponse& head, const char* data, size_t n) -> Result<void> {
            if (first_chunk) {
                first_chunk = false;
                if (offset > 0 && head.status == 200) {
                    TRY(w.restart());  // the server ignored the Range: take the whole blob
                } else if (head.status == 206) {
                    std::string range = head.header("content-range");
                    std::string want = "bytes " + std::to_string(offset) + "-";
                    if (!range.starts_with(want))
                        return fail("blob " + d.digest + ": asked for bytes from " +
                                    std::to_string(offset) + ", got '" + range + "'");
                }
            }
            TRY(w.append(data, n));
            board.done[index] = w.bytes();
            if (board.tty) {
                std::lock_guard lock(board.mu);
                board.draw_locked(false);
            }
            return ok();
        };
        auto resp = registry.get(http, "blobs/" + d.digest, headers, sink, 0);
        if (!resp) {
            // The connection broke mid-stream (after the client's own retries): resume from
            // what has arrived, a bounded number of times.
            if (round + 1 < kMaxResumes && w.bytes() > offset) continue;
            return fail(resp.error().code,
                        registry.name() + ": blob " + d.digest + ": " + resp.error().message);
        }
        if (resp->status == 416 && offset == static_cast<uint64_t>(d.size)) break;
        if (resp->status != 200 && resp->status != 206)
            return fail(registry.name() + ": blob " + d.digest + ": " + describe_status(*resp));
        if (w.bytes() == offset && w.bytes() < static_cast<uint64_t>(d.size))
            return fail(registry.name() + ": blob " + d.digest + ": the registry sent no bytes");
    }
    if (auto r = w.finish(); !r)
        return fail(registry.name() + ": " + r.error().message + "; nothing was cached");
    if (::rename(partial.c_str(), final_path.c_str()) != 0) return fail_errno("rename", final_path);
    TRY(fsync_dir(cache_root + "/blobs/sha256"));
    {
        std::lock_guard lock(board.mu);
        board.active[index] = false;
    }
    return w.bytes() - start;
}

}  // namespace

std::string cached_blob_path(const std::string& cache_root, const Descriptor& d) {
    return cache_root + "/blobs/sha256/" + d.hex;
}

Result<VerifiedBlobWriter> VerifiedBlobWriter::open(const std::string& partial,
                                                    const Descriptor& d) {
    UniqueFd fd(::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return fail_errno("open", partial);
    // Two composes sharing the cache: the second waits for the first's download of this blob.
    if (::flock(fd.get(), LOCK_EX) != 0) return fail_errno("flock", partial);
    VerifiedBlobWriter w(partial, d, std::move(fd));
    if (!w.verifier_.valid()) return fail("sha256: libcrypto context allocation failed");
    struct stat st;
    if (::fstat(w.fd_.get(), &st) != 0) return fail_errno("fstat", partial);
    if (!S_ISREG(st.st_mode)) return fail("'" + partial + "' is not a regular file");
    if (st.st_size > d.size) {
        TRY(w.restart());
        return w;
    }
    std::vector<char> buf(1 << 20);
    for (;;) {
        ssize_t n = ::read(w.fd_.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("read", partial);
        if (n == 0) break;
        TRY(w.verifier_.update(buf.data(), static_cast<size_t>(n)));
    }
    return w;
}

Result<void> VerifiedBlobWriter::append(const char* data, size_t size) {
    TRY(verifier_.update(data, size));  // checked before a byte is written
    for (size_t done = 0; done < size;) {
        ssize_t n = ::write(fd_.get(), data + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("write", path_);
        done += static_cast<size_t>(n);
    }
    return ok();
}

Result<void> VerifiedBlobWriter::restart() {
    if (::ftruncate(fd_.get(), 0) != 0) return fail_errno("ftruncate", path_);
    if (::lseek(fd_.get(), 0, SEEK_SET) != 0) return fail_errno("lseek", path_);
    verifier_.reset();
    return ok();
}

Result<void> VerifiedBlobWriter::finish() {
    if (auto r = verifier_.finish(); !r) {
        ::unlink(path_.c_str());  // a partial that failed its check must not be resumed
        return r;
    }
    if (::fsync(fd_.get()) != 0) return fail_errno("fsync", path_);
    return ok();
}

Result<FetchStats> fetch_blobs(Registry& registry, const std::vector<Descriptor>& want,
                               const std::string& cache_root) {
    TRY(mkdir_p(cache_root + "/blobs/sha256", 0700));
    FetchStats stats;
    std::vector<Descriptor> todo;
    for (const Descriptor& d : want) {
        struct stat st;
        if (::stat(cached_blob_path(cache_root, d).c_str(), &st) != 0) todo.push_back(d);
    }
    if (todo.empty()) return stats;
    Board board(todo.size());
    board.tty = ::isatty(STDERR_FILENO) == 1;
    std::atomic<size_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex result_mu;
    std::optional<Error> first_error;
    auto worker = [&] {
        auto http = registry.connect();
        if (!http) {
            std::lock_guard lock(result_mu);
            if (!first_error) first_error = http.error();
            stop = true;
            return;
        }
        for (size_t i; !stop && (i = next++) < todo.size();) {
            auto t0 = Clock::now();
            uint64_t resumed = 0;
            auto got = fetch_one(registry, *http, todo[i], cache_root, board, i, resumed);
            std::lock_guard lock(result_mu);
            if (!got) {
                if (!first_error) first_error = got.error();
                stop = true;
                return;
            }
            ++stats.blobs;
            stats.bytes += *got;
            stats.resumed_from += resumed;
            double s = std::chrono::duration<double>(Clock::now() - t0).count();
            char text[200];
            std::snprintf(
                text, sizeof text, "layer %s downloaded %.3f MB in %.2f s (%.1f MB/s)%s",
                short_digest(todo[i].digest).c_str(), *got / 1e6, s, s > 0 ? *got / 1e6 / s : 0.0,
                resumed ? (", resumed at " + std::to_string(resumed) + " bytes").c_str() : "");
            board.line(text);
        }
    };
    int jobs = std::clamp(registry.options().jobs, 1, kMaxJobs);
    std::vector<std::thread> threads;
    for (int j = 0; j < jobs && static_cast<size_t>(j) < todo.size(); ++j)
        threads.emplace_back(worker);
    for (std::thread& t : threads) t.join();
    if (board.tty) std::fprintf(stderr, "\r\033[K");
    if (first_error) return Unexpected(std::move(*first_error));
    return stats;
}

}  // namespace imageinit::compose::registry
