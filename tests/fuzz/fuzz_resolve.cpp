// Fuzz body: path resolution inside a root (os/resolve.h) against a tree full of hostile
// symlinks. Input: "PATH", or "LINK\0PATH" to first point the symlink /dyn/link at LINK.
// Property: whatever open_in_root and open_beneath_no_symlinks return lies inside the root, as
// the kernel reports it through readlink(/proc/self/fd/N). Needs no privileges: the tree is a
// temporary directory, created once per process and removed at exit.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_targets.h"
#include "os/resolve.h"

namespace imageinit::fuzz {
namespace {

class HostileTree {
  public:
    HostileTree() {
        const char* tmp = ::getenv("TMPDIR");
        std::string tmpl =
            std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/imageinit-fuzz-resolve.XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
        // The kernel names fds by their real path: compare against the real path of the root.
        base_ = std::filesystem::canonical(tmpl).string();
        root_ = base_ + "/root";
        namespace fs = std::filesystem;
        for (const char* d : {"root/etc", "root/var/lib", "root/a/b/c", "root/dyn", "outside"}) {
            fs::create_directories(base_ + "/" + d);
        }
        auto link = [&](const std::string& target, const char* at) {
            fs::create_symlink(target, root_ + "/" + at);
        };
        link("/", "etc/abs-root");                   // absolute, to the root
        link("/../../..", "etc/abs-up");             // absolute with ".."
        link("../../../../../../..", "etc/rel-up");  // relative, far above
        link(base_ + "/outside", "etc/host-path");   // the full host path of a directory outside
        link("/proc/self/root", "etc/magic");        // a magic link through /proc
        link("/proc/self/fd", "etc/fds");
        link("loop", "loop");  // itself
        link("ping", "pong");  // a cycle
        link("pong", "ping");
        link("..", "a/b/c/parent");
        link("../../../../outside", "var/lib/persist");  // a persistent dir swapped for a link
        link("/etc/rel-up/outside", "var/chain");        // a chain of links
        link("/", "dyn/link");                           // replaced per input
        root_fd_ = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        dyn_fd_ = ::open((root_ + "/dyn").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd_ < 0 || dyn_fd_ < 0) std::abort();
    }
    ~HostileTree() {
        std::error_code ec;
        std::filesystem::remove_all(base_, ec);
    }

    int root_fd() const { return root_fd_; }
    const std::string& root() const { return root_; }

    // Points /dyn/link at `target` (a name that cannot hold a NUL is cut at the first one).
    void set_link(const std::string& target) {
        ::unlinkat(dyn_fd_, "link", 0);
        if (!target.empty()) (void)::symlinkat(target.c_str(), dyn_fd_, "link");
    }

    // True when the fd is the root itself or something below it.
    bool inside(int fd) const {
        char buf[8192];
        std::string proc = "/proc/self/fd/" + std::to_string(fd);
        ssize_t n = ::readlink(proc.c_str(), buf, sizeof buf);
        if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return false;
        std::string_view where(buf, static_cast<size_t>(n));
        return where == root_ || (where.starts_with(root_) && where.size() > root_.size() &&
                                  where[root_.size()] == '/');
    }

  private:
    std::string base_, root_;
    int root_fd_ = -1, dyn_fd_ = -1;
};

std::string where_of(int fd) {
    char buf[8192];
    ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
}

// ROOT/PATH with "." and ".." applied lexically (".." never above ROOT).
std::string lexical_join(const std::string& root, const std::string& path) {
    std::vector<std::string_view> parts;
    std::string_view rest(path);
    while (!rest.empty()) {
        size_t slash = rest.find('/');
        std::string_view comp = rest.substr(0, slash);
        rest = slash == rest.npos ? std::string_view() : rest.substr(slash + 1);
        if (comp.empty() || comp == ".") continue;
        if (comp == "..") {
            if (!parts.empty()) parts.pop_back();
            continue;
        }
        parts.push_back(comp);
    }
    std::string out = root;
    for (std::string_view comp : parts) out.append("/").append(comp);
    return out;
}

}  // namespace

void fuzz_resolve(const uint8_t* data, size_t size) {
    static HostileTree tree;  // destroyed at exit, removing the temporary tree
    std::string_view input(reinterpret_cast<const char*>(data), size);
    size_t nul = input.find('\0');
    std::string path(nul == input.npos ? input : input.substr(nul + 1));
    if (nul != input.npos) tree.set_link(std::string(input.substr(0, nul)));
    path = path.substr(0, path.find('\0'));  // a C string stops there anyway

    for (int flags : {O_PATH, O_PATH | O_DIRECTORY, O_RDONLY | O_NOFOLLOW}) {
        auto fd = os::open_in_root(tree.root_fd(), path, flags);
        if (fd) {
            FUZZ_CHECK(tree.inside(fd->get()),
                       "open_in_root('" + path + "') escaped to " + where_of(fd->get()));
        }
        auto beneath = os::open_beneath_no_symlinks(tree.root_fd(), path, flags);
        if (beneath) {
            FUZZ_CHECK(
                tree.inside(beneath->get()),
                "open_beneath_no_symlinks('" + path + "') escaped to " + where_of(beneath->get()));
            // No symlink was followed, so the kernel's answer is the lexical one.
            std::string expected = lexical_join(tree.root(), path);
            FUZZ_CHECK(where_of(beneath->get()) == expected,
                       "open_beneath_no_symlinks('" + path + "') opened " +
                           where_of(beneath->get()) + ", not " + expected);
        }
    }
}

}  // namespace imageinit::fuzz
