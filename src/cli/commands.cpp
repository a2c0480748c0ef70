// Command dispatch and the record commands: status and rollback (mark-good: mark_good.cpp).
#include "cli/commands.h"

#include <cstdio>

#include "base/log.h"
#include "boot/real_platform.h"
#include "boot/state_store.h"
#include "cli/bootstrap.h"
#include "cli/options.h"
#include "cli/print.h"
#include "cli/signing.h"
#include "cli/slot_sources.h"
#include "cli/tpm_enroll.h"
#include "core/cmdline.h"
#include "core/json.h"
#include "core/slot_select.h"
#include "os/files.h"

namespace imageinit::cli {
namespace {

constexpr const char* kUsage =
    "usage: imageinit COMMAND [OPTIONS]\n"
    "  status [--json]                 the slots, the running one, and the last boots\n"
    "  mark-good [--no-checks]         health checks, then the running slot is good and primary\n"
    "  install IMAGE [--tries N] [--verity]   write IMAGE to the passive slot, make it primary\n"
    "  upgrade SOURCE [--tries N] [--reboot]   compose SOURCE (docker://, oci:) and install it\n"
    "  rollback                        primary back to the other good slot\n"
    "  reset [--cancel]                factory reset: the next boot recreates PERSIST empty\n"
    "  plan --image IMAGE [--cmdline '...']   dry run: slot decision and mount plan\n"
    "  check IMAGE [--roothash HEX]    lint an image: spec, mount points, init\n"
    "  sign IMAGE --key KEY --cert CERT   sign IMAGE's verity root hash (IMAGE.roothash.p7s)\n"
    "  enroll-tpm [--key-file FILE] [--bind-secure-boot]   seal PERSIST's key to the TPM\n"
    "  dracut-mount                    (dracut initramfs) choose the slot, prepare /sysroot\n"
    "  bootstrap --disk DEVICE SOURCE [--wipe] [--dry-run] ...   lay out a blank disk, install\n"
    "  help, --help; --version\n"
    "common options: --state-dir DIR (default /run/imageinit/state), --slot NAME\n"
    "As PID 1 of an initramfs it boots (see imageinit(8), imageinit-cmdline(7)).\n";

int usage_error(const std::string& message) {
    log::error(message);
    std::fputs(kUsage, stderr);
    return 2;
}

}  // namespace

Result<RecordHandle> open_record(const CommonOptions& o) {
    boot::RealRootFs platform;
    auto dir = platform.open_dir(o.state_dir);
    if (!dir)
        return fail(dir.error().code, "state partition not available at '" + o.state_dir +
                                          "': " + dir.error().message);
    RecordHandle h{std::move(*dir), {}};
    h.loaded = boot::load_record(platform, h.state);
    return h;
}

Result<void> save_record(RecordHandle& h, const core::BootRecord& record) {
    boot::RealRootFs platform;
    return boot::store_record(platform, h.state, record);
}

Result<std::string> running_slot(const CommonOptions& o) {
    if (!o.slot.empty()) return o.slot;
    auto text = os::read_file(o.run_dir + "/slot", 64);
    if (!text)
        return fail(text.error().code, "cannot tell which slot is running ('" + o.run_dir +
                                           "/slot': " + text.error().message +
                                           "); was this system booted by imageinit?");
    std::string s = *text;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    if (!core::valid_slot_name(s)) return fail(EINVAL, "'" + o.run_dir + "/slot' is malformed");
    return s;
}

int report_error(const Error& e) {
    log::error(e.message);
    return 1;
}

int cmd_status(const std::vector<std::string>& args, const CommonOptions& o) {
    bool json = false;
    for (const auto& a : args) {
        if (a == "--json")
            json = true;
        else
            return usage_error("status: unknown argument '" + a + "'");
    }
    auto h = open_record(o);
    if (!h) return report_error(h.error());
    const core::BootRecord& r = h->loaded.record;
    std::string running = running_slot(o).value_or(std::string());
    auto report = os::read_file(o.run_dir + "/boot.json", 1 << 20);
    if (json) {
        core::JsonWriter w;
        w.begin_object().key("running").value(running).key("primary").value(r.primary);
        w.key("record_warning").value(h->loaded.warning);
        w.key("boot_count").value(r.boot_count);
        w.key("slots").begin_object();
        for (const auto& [name, s] : r.slots) {
            w.key(name).begin_object().key("health").value(core::health_name(s.health));
            w.key("tries_left").value(s.tries_left).key("reason").value(s.reason);
            auto src = load_slot_source(o.state_dir + "/slots", name);
            w.key("source").value(src ? src->source : std::string());
            w.key("digest").value(src ? src->digest : std::string()).end_object();
        }
        w.end_object().key("journal").begin_array();
        for (const auto& j : r.journal)
            w.begin_object()
                .key("boot")
                .value(j.boot)
                .key("slot")
                .value(j.slot)
                .key("outcome")
                .value(j.outcome)
                .key("step")
                .value(j.step)
                .key("reason")
                .value(j.reason)
                .key("ms")
                .value(j.duration_ms)
                .end_object();
        w.end_array().key("health_checks").value(last_health_report(*h)).end_object();
        out(w.str(), "\n");
        return 0;
    }
    out("running: ", running.empty() ? std::string("(unknown)") : running, "\n");
    out("primary: ", r.primary);
    if (auto p = r.slots.find(r.primary);
        p != r.slots.end() && p->second.health == core::SlotHealth::kBad)
        out(" (bad: boots fall back to the next good slot until an install or rollback)");
    out("\n");
    if (!h->loaded.warning.empty()) out("record: ", h->loaded.warning, "\n");
    for (const auto& [name, s] : r.slots) {
        out("slot ", name, ": ", core::describe_slot(s), "\n");
        if (auto src = load_slot_source(o.state_dir + "/slots", name); src) {
            out("  image: ", src->source.empty() ? std::string("(unknown)") : src->source, "\n");
            if (!src->digest.empty()) out("  manifest: ", src->digest, "\n");
        }
    }
    if (report && report->find("\"degraded\":true") != std::string::npos)
        out("this boot is DEGRADED: persistent paths are temporary (see ", o.run_dir,
            "/boot.json)\n");
    if (std::string health = last_health_report(*h); !health.empty())
        out("last health checks: ", health);
    out("last boots (oldest first):\n");
    for (const auto& j : r.journal) {
        out("  boot ", j.boot, ": slot ", j.slot, " ", j.outcome);
        if (!j.step.empty()) out(" at ", j.step);
        if (!j.reason.empty()) out(": ", j.reason);
        if (j.duration_ms) out(" (", j.duration_ms, " ms)");
        out("\n");
    }
    return 0;
}

namespace {

// rollback: a core function turns (record, running slot) into the new record,
// which is written atomically; DONE says what happened.
using RecordChange = Result<core::BootRecord> (*)(core::BootRecord, const std::string&);

int change_record(const char* command, const std::vector<std::string>& args, const CommonOptions& o,
                  RecordChange change,
                  std::string (*done)(const std::string& running, const core::BootRecord&)) {
    if (!args.empty()) return usage_error(std::string(command) + " takes no arguments");
    auto slot = running_slot(o);
    if (!slot) return report_error(slot.error());
    auto h = open_record(o);
    if (!h) return report_error(h.error());
    auto updated = change(h->loaded.record, *slot);
    if (!updated) return report_error(updated.error());
    if (auto r = save_record(*h, *updated); !r) return report_error(r.error());
    out(done(*slot, *updated), "\n");
    return 0;
}

}  // namespace

int cmd_rollback(const std::vector<std::string>& args, const CommonOptions& o) {
    return change_record("rollback", args, o, core::rollback,
                         [](const std::string&, const core::BootRecord& r) {
                             return "primary is now slot " + r.primary + "; reboot to use it";
                         });
}

int run_command(const std::vector<std::string>& all) {
    if (all.empty()) return usage_error("no command given");
    CommonOptions o;
    std::vector<std::string> rest;
    for (size_t i = 1; i < all.size(); ++i) {
        auto take = [&](std::string& into) {
            if (i + 1 >= all.size()) return false;
            into = all[++i];
            return true;
        };
        if (all[i] == "--state-dir") {
            if (!take(o.state_dir)) return usage_error("--state-dir needs a directory");
        } else if (all[i] == "--persist-dir") {
            if (!take(o.persist_dir)) return usage_error("--persist-dir needs a directory");
        } else if (all[i] == "--run-dir") {
            if (!take(o.run_dir)) return usage_error("--run-dir needs a directory");
        } else if (all[i] == "--slot") {
            if (!take(o.slot)) return usage_error("--slot needs a slot name");
        } else {
            rest.push_back(all[i]);
        }
    }
    const std::string& cmd = all[0];
    if (cmd == "status") return cmd_status(rest, o);
    if (cmd == "mark-good") return cmd_mark_good(rest, o);
    if (cmd == "rollback") return cmd_rollback(rest, o);
    if (cmd == "install") return cmd_install(rest, o);
    if (cmd == "upgrade") return cmd_upgrade(rest, o);
    if (cmd == "bootstrap") return cmd_bootstrap(rest);
    if (cmd == "reset") return cmd_reset(rest, o);
    if (cmd == "plan") return cmd_plan(rest, o);
    if (cmd == "check") return cmd_check(rest, o);
    if (cmd == "sign") return cmd_sign(rest, o);
    if (cmd == "dracut-mount") return cmd_dracut_mount(rest, o);
    if (cmd == "enroll-tpm") return cmd_enroll_tpm(rest, o);
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (cmd == "--version" || cmd == "version") {
        // IMAGEINIT_VERSION: meson's project version (src/meson.build), which debian/changelog
        // must match (tests/packaging/check-version).
        std::puts("imageinit " IMAGEINIT_VERSION);
        return 0;
    }
    return usage_error("unknown command '" + cmd + "'");
}

}  // namespace imageinit::cli
