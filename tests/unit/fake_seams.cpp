// The small fakes of fake_seams.h: each call is one log line in the FakePlatform model.
#include "fake_seams.h"

#include "fake_platform.h"

namespace imageinit::boot::testing {

Result<AttachedImage> FakeIntegrity::open_verity(const std::string& data_device,
                                                 const std::string& hash_file,
                                                 const std::string& roothash,
                                                 const std::string& name) {
    if (verity_error) return Unexpected(*verity_error);
    std::string device = "/dev/mapper/" + name;
    model_.map_device(device, data_device);
    model_.note("verity " + data_device + " as " + device + " (tree " + hash_file + ", root hash " +
                roothash + ")");
    return AttachedImage{device, Undo([this, device] { model_.note("remove " + device); }),
                         "hash tree " + hash_file};
}

Result<void> FakeIntegrity::arm_verity_restart(const std::string& name) {
    if (restart_error) return Unexpected(*restart_error);
    model_.note("verity restart-on-corruption " + name);
    return ok();
}

Result<AttachedImage> FakeIntegrity::open_luks(const std::string& device, const std::string& name,
                                               const Dir*, const TpmUnlockOptions* tpm) {
    std::string measured =
        tpm ? " (slot " + tpm->slot + " measured, root hash " +
                  (tpm->roothash.empty() ? "none" : tpm->roothash) +
                  (tpm->stage == core::TpmStage::kKexec ? ", kexec'd stage" : "") + ")"
            : "";
    if (tpm)
        if (auto e = tpm_error.find(tpm->slot); e != tpm_error.end()) {
            model_.note("unlock " + device + measured + " refused");
            return Unexpected(e->second);
        }
    if (luks_error) return Unexpected(*luks_error);
    std::string mapped = "/dev/mapper/" + name;
    model_.map_device(mapped, luks_inner_device);
    model_.note("unlock " + device + " as " + mapped + measured);
    return AttachedImage{mapped, Undo([this, mapped] { model_.note("remove " + mapped); }),
                         "key file"};
}

Result<void> FakeKexec::kexec_load(const Dir& root, const std::string& kernel,
                                   const std::string& initrd, const std::string& cmdline) {
    if (load_error) return Unexpected(*load_error);
    model_.note("kexec load " + root.path + kernel + " + " + initrd + " (" + cmdline + ")");
    return ok();
}

Result<std::vector<std::string>> FakeProcesses::list_executables(const std::string& dir) {
    auto it = executables.find(dir);
    return it == executables.end() ? std::vector<std::string>{} : it->second;
}

Result<os::ProcessResult> FakeProcesses::run_program(const std::vector<std::string>& argv,
                                                     const std::vector<std::string>& env,
                                                     std::chrono::milliseconds limit,
                                                     size_t capture_bytes) {
    (void)env, (void)limit, (void)capture_bytes;
    model_.note("run " + argv.at(0));
    os::ProcessResult r;
    auto it = exits.find(argv.at(0));
    r.exit_code = it == exits.end() ? 0 : it->second;
    return r;
}

}  // namespace imageinit::boot::testing
