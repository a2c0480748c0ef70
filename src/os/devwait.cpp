// Device waiting without udev: the kernel's uevent netlink broadcast, a coldplug pass over
// sysfs, and poll(2) against one deadline.
#include "os/devwait.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <vector>

#include "base/c_handle.h"
#include "os/files.h"

namespace imageinit::os {
namespace {

// Group 1 carries the kernel's own uevents (group 2 is udev's re-broadcast, which has no
// sender in an initramfs). See lib/kobject_uevent.c and Documentation/ABI/testing/sysfs-uevent.
constexpr uint32_t kKernelGroup = 1;
// Coldplug plus module loading can queue thousands of events at once; the default receive
// buffer overflows (ENOBUFS) long before that.
constexpr int kRecvBuffer = 8 * 1024 * 1024;

std::vector<std::string> list_dir(const std::string& path) {
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (!d) return names;
    CHandle<DIR, ::closedir> owner(d);
    while (struct dirent* de = ::readdir(d)) {
        if (de->d_name[0] != '.') names.emplace_back(de->d_name);
    }
    return names;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

Result<DeviceWaiter> DeviceWaiter::open(ModaliasHandler on_modalias) {
    UniqueFd sock(
        ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT));
    if (!sock) return fail_errno("socket", "netlink uevent");
    // FORCE needs CAP_NET_ADMIN (PID 1 has it); the plain option is capped by rmem_max.
    if (::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUFFORCE, &kRecvBuffer, sizeof(kRecvBuffer)) < 0)
        (void)::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &kRecvBuffer, sizeof(kRecvBuffer));
    struct sockaddr_nl addr = {};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = kKernelGroup;
    if (::bind(sock.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) < 0)
        return fail_errno("bind", "netlink uevent");
    DeviceWaiter w;
    w.sock_ = std::move(sock);
    w.on_modalias_ = std::move(on_modalias);
    return w;
}

void DeviceWaiter::handle_modalias(const std::string& modalias) {
    if (modalias.empty() || !on_modalias_) return;
    if (!seen_.insert(modalias).second) return;
    on_modalias_(modalias);
}

void DeviceWaiter::coldplug() {
    for (const auto& bus : list_dir("/sys/bus")) {
        std::string devices = "/sys/bus/" + bus + "/devices";
        for (const auto& dev : list_dir(devices)) {
            auto alias = read_file(devices + "/" + dev + "/modalias", 4096);
            if (alias) handle_modalias(first_line(*alias));
        }
    }
    // Replayed "add" events for existing disks: a wait that started late still sees them
    // (Documentation/ABI/testing/sysfs-uevent). Failures only mean no replay.
    for (const auto& blk : list_dir("/sys/class/block"))
        (void)write_file("/sys/class/block/" + blk + "/uevent", "add\n");
}

bool DeviceWaiter::drain() {
    bool block_event = false;
    char buf[8192];
    for (;;) {
        struct sockaddr_nl from = {};
        struct iovec iov = {buf, sizeof(buf) - 1};
        struct msghdr msg = {};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof(from);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        ssize_t n = ::recvmsg(sock_.get(), &msg, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            // ENOBUFS: the queue overflowed and events were lost; a new coldplug pass picks
            // up every modalias we missed (the handler sees each only once anyway).
            if (errno == ENOBUFS) {
                coldplug();
                block_event = true;
                continue;
            }
            return block_event;  // EAGAIN: drained
        }
        // Only the kernel (port id 0) may tell us about devices.
        if (from.nl_pid != 0 || n == 0) continue;
        buf[n] = '\0';
        // "ACTION@DEVPATH\0KEY=VALUE\0...".
        std::string_view data(buf, static_cast<size_t>(n));
        std::string_view action;
        std::string_view modalias;
        size_t pos = data.find('\0');
        while (pos != std::string_view::npos && pos + 1 < data.size()) {
            size_t end = data.find('\0', pos + 1);
            std::string_view kv = data.substr(
                pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
            if (kv.starts_with("ACTION=")) action = kv.substr(7);
            if (kv.starts_with("MODALIAS=")) modalias = kv.substr(9);
            if (kv == "SUBSYSTEM=block") block_event = true;
            pos = end;
        }
        if (action == "add" && !modalias.empty()) handle_modalias(std::string(modalias));
    }
}

Result<void> DeviceWaiter::wait_until(const std::function<bool()>& ready,
                                      std::chrono::steady_clock::time_point deadline,
                                      const std::string& what) {
    // ready() probes every block device (libblkid), which costs milliseconds each under
    // emulation: re-check only when a block device came, changed or went, not for the module
    // and bus events in between.
    bool check = true;
    for (;;) {
        if (check && ready()) return ok();
        auto now = std::chrono::steady_clock::now();
        // Rounded up: a truncated timeout would wake just before the deadline and give up early.
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
        if (now >= deadline)
            return fail(ETIMEDOUT,
                        what + " did not appear before the deadline (imageinit.timeout)");
        struct pollfd pfd = {sock_.get(), POLLIN, 0};
        int rc = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 60'000)));
        if (rc < 0 && errno != EINTR) return fail_errno("poll", "netlink uevent");
        check = rc > 0 && drain();
    }
}

}  // namespace imageinit::os
