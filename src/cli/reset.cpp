// `imageinit reset [--cancel]` (contract §14): asks the next boot to recreate the persistent
// partition empty by writing STATE/imageinit/reset-request durably, or withdraws that request.
// The reset itself is the boot's reset-persist step (boot/reset_persist.h).
#include <cstdio>

#include "base/log.h"
#include "boot/reset_persist_ops.h"
#include "cli/commands.h"
#include "core/persist_reset.h"
#include "os/files.h"
#include "os/safe_open.h"

namespace imageinit::cli {
namespace {

const std::string kRequestPath =
    std::string(core::kResetRequestDir) + "/" + std::string(core::kResetRequestName);

// The request as it is now: nullopt when there is none.
Result<std::optional<core::ResetRequest>> read_request(int state_root) {
    auto text = os::read_checked(state_root, kRequestPath, os::Scope::kPartition,
                                 core::kResetRequestMaxBytes + 1);
    if (!text) {
        if (text.error().code == ENOENT) return std::optional<core::ResetRequest>();
        return Unexpected(std::move(text).error());
    }
    // An unreadable request still asks for a reset: the boot treats it as a plain one.
    auto parsed = core::parse_reset_request(*text);
    return std::optional<core::ResetRequest>(parsed ? *parsed : core::ResetRequest{});
}

}  // namespace

int cmd_reset(const std::vector<std::string>& args, const CommonOptions& o) {
    bool cancel = false;
    for (const auto& a : args) {
        if (a == "--cancel") {
            cancel = true;
        } else {
            log::error("reset: unknown argument '" + a + "' (usage: imageinit reset [--cancel])");
            return 2;
        }
    }
    auto root = os::open_dir(o.state_dir);
    if (!root) {
        log::error("reset: state partition not available at '" + o.state_dir +
                   "': " + root.error().message);
        return 1;
    }
    auto now = read_request(root->get());
    if (!now) {
        log::error("reset: " + now.error().message);
        return 1;
    }
    boot::RealResetOps ops(root->get());
    const std::string where = o.state_dir + "/" + kRequestPath;
    if (cancel) {
        if (!*now) {
            std::puts("no factory reset is requested");
            return 0;
        }
        if ((*now)->started) {
            log::error("reset: a boot has already begun recreating the persistent partition (" +
                       (*now)->started->device +
                       "); it cannot be cancelled, the next boot "
                       "completes it");
            return 1;
        }
        if (auto r = ops.clear_request(); !r) {
            log::error("reset --cancel: " + where + ": " + r.error().message);
            return 1;
        }
        std::puts("factory reset cancelled: the next boot keeps the persistent partition");
        return 0;
    }
    if (*now && (*now)->started) {
        std::puts("a factory reset is already under way: the next boot completes it");
        return 0;
    }
    if (!*now) {
        if (auto r = ops.write_request(core::encode_reset_request({})); !r) {
            log::error("reset: " + where + ": " + r.error().message);
            return 1;
        }
    }
    std::puts(
        "factory reset requested: at the next boot, before anything uses it, the persistent\n"
        "partition is recreated empty (a LUKS2 one with a new key in imageinit/persist.key):\n"
        "everything kept on it is lost. The slots and the boot record stay.\n"
        "'imageinit reset --cancel' withdraws the request before then.");
    return 0;
}

}  // namespace imageinit::cli
