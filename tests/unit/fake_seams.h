// Small fakes of the Integrity, Kexec and Processes seams (boot/seams.h). Each writes what it is
// asked into the owning FakePlatform's log, so a test sees verity, LUKS, kexec and hook calls in
// order with the mounts; each answer (or failure) is set by the test.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "boot/seams.h"

namespace imageinit::boot::testing {

class FakePlatform;

class FakeIntegrity : public Integrity {
  public:
    explicit FakeIntegrity(FakePlatform& model) : model_(model) {}
    // Makes open_verity / open_luks / arm_verity_restart fail with CODE and MESSAGE.
    std::optional<Error> verity_error, luks_error, restart_error;
    // open_luks's mapping holds this filesystem (the fake's probe reports it).
    std::string luks_inner_device = "/dev/sda2";
    // open_luks inside slot SLOT's attempt fails with this (a TPM unseal refused for its image).
    std::map<std::string, Error> tpm_error;

    Result<AttachedImage> open_verity(const std::string& data_device, const std::string& hash_file,
                                      const std::string& roothash,
                                      const std::string& name) override;
    Result<void> arm_verity_restart(const std::string& name) override;
    Result<AttachedImage> open_luks(const std::string& device, const std::string& name,
                                    const Dir* state_root, const TpmUnlockOptions* tpm) override;

  private:
    FakePlatform& model_;
};

class FakeKexec : public Kexec {
  public:
    explicit FakeKexec(FakePlatform& model) : model_(model) {}
    std::pair<std::string, std::string> running = {"6.1.0-test", "#1 SMP"};
    std::optional<Error> load_error;

    std::pair<std::string, std::string> running_kernel() override { return running; }
    Result<void> kexec_load(const Dir& root, const std::string& kernel, const std::string& initrd,
                            const std::string& cmdline) override;

  private:
    FakePlatform& model_;
};

class FakeProcesses : public Processes {
  public:
    explicit FakeProcesses(FakePlatform& model) : model_(model) {}
    // DIR -> the executables in it; a program not in `exits` exits 0.
    std::map<std::string, std::vector<std::string>> executables;
    std::map<std::string, int> exits;  // full path -> exit status

    Result<std::vector<std::string>> list_executables(const std::string& dir) override;
    Result<os::ProcessResult> run_program(const std::vector<std::string>& argv,
                                          const std::vector<std::string>& env,
                                          std::chrono::milliseconds limit,
                                          size_t capture_bytes = 0) override;

  private:
    FakePlatform& model_;
};

}  // namespace imageinit::boot::testing
