// libfdisk via dlopen (see fdisk.h); the function types come from the installed libfdisk.h.
#include "os/fdisk.h"

#include <dlfcn.h>
#include <libfdisk/libfdisk.h>

#include <cctype>
#include <cerrno>
#include <mutex>

namespace imageinit::os {
namespace {

constexpr const char* kSoname = "libfdisk.so.1";

struct FdiskApi {
#define IMAGEINIT_FDISK_FN(name) decltype(&::name) name = nullptr;
#include "os/fdisk_fns.inc"
#undef IMAGEINIT_FDISK_FN
    std::string error;  // empty when loaded
};

FdiskApi load() {
    FdiskApi api;
    void* h = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* why = ::dlerror();
        api.error = std::string("libfdisk is not available (dlopen '") + kSoname +
                    "': " + (why ? why : "unknown error") + ")";
        return api;
    }
#define IMAGEINIT_FDISK_FN(name)                                           \
    api.name = reinterpret_cast<decltype(&::name)>(::dlsym(h, #name));     \
    if (!api.name) {                                                       \
        api.error = std::string("libfdisk has no symbol '") + #name + "'"; \
        return api;                                                        \
    }
#include "os/fdisk_fns.inc"
#undef IMAGEINIT_FDISK_FN
    return api;  // the handle stays open: the table points into it
}

Result<const FdiskApi*> fdisk() {
    static std::once_flag once;
    static FdiskApi api;
    std::call_once(once, [] { api = load(); });
    if (!api.error.empty()) return fail(ENOSYS, api.error);
    return &api;
}

// One context on one device; unassigned (and synced, when writable) and freed on scope exit.
class Context {
  public:
    Context(const FdiskApi& api, fdisk_context* cxt) : api_(api), cxt_(cxt) {}
    Context(const Context&) = delete;
    ~Context() {
        if (assigned_) api_.fdisk_deassign_device(cxt_, 0);
        api_.fdisk_unref_context(cxt_);
    }
    Result<void> assign(const std::string& device, bool read_only) {
        int r = api_.fdisk_assign_device(cxt_, device.c_str(), read_only ? 1 : 0);
        if (r < 0) return fail(-r, "fdisk_assign_device '" + device + "'");
        assigned_ = true;
        return ok();
    }
    // Unassigns now: for a writable device libfdisk fsyncs and closes it; errors are reported.
    Result<void> close(const std::string& device) {
        assigned_ = false;
        int r = api_.fdisk_deassign_device(cxt_, 0);
        if (r < 0) return fail(-r, "fdisk_deassign_device (sync) '" + device + "'");
        return ok();
    }
    fdisk_context* get() const { return cxt_; }

  private:
    const FdiskApi& api_;
    fdisk_context* cxt_;
    bool assigned_ = false;
};

std::string upper(const char* s) {
    std::string out = s ? s : "";
    for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

Result<DiskTable> read_partition_table(const std::string& device) {
    const FdiskApi& api = *TRY(fdisk());
    fdisk_context* raw = api.fdisk_new_context();
    if (!raw) return fail(ENOMEM, "fdisk_new_context");
    Context cxt(api, raw);
    TRY(cxt.assign(device, true));
    DiskTable t;
    t.sector_size = api.fdisk_get_sector_size(cxt.get());
    t.size = api.fdisk_get_nsectors(cxt.get()) * t.sector_size;
    if (!api.fdisk_has_label(cxt.get())) return t;
    fdisk_label* lb = api.fdisk_get_label(cxt.get(), nullptr);
    (void)lb;
    fdisk_table* tb = nullptr;
    int r = api.fdisk_get_partitions(cxt.get(), &tb);
    if (r < 0) return fail(-r, "fdisk_get_partitions '" + device + "'");
    t.label = "gpt";
    for (size_t i = 0; i < api.fdisk_table_get_nents(tb); ++i) {
        fdisk_partition* pa = api.fdisk_table_get_partition(tb, i);
        if (!pa || !api.fdisk_partition_is_used(pa)) continue;
        DiskPartition p;
        const char* name = api.fdisk_partition_get_name(pa);
        p.name = name ? name : "";
        fdisk_parttype* type = api.fdisk_partition_get_type(pa);
        p.type = type ? upper(api.fdisk_parttype_get_string(type)) : "";
        p.start = api.fdisk_partition_get_start(pa) * t.sector_size;
        p.size = api.fdisk_partition_get_size(pa) * t.sector_size;
        t.partitions.push_back(p);
    }
    api.fdisk_unref_table(tb);
    return t;
}

Result<void> write_gpt(const std::string& device, const std::vector<DiskPartition>& parts) {
    const FdiskApi& api = *TRY(fdisk());
    fdisk_context* raw = api.fdisk_new_context();
    if (!raw) return fail(ENOMEM, "fdisk_new_context");
    Context cxt(api, raw);
    TRY(cxt.assign(device, false));
    const uint64_t ss = api.fdisk_get_sector_size(cxt.get());
    int r = api.fdisk_create_disklabel(cxt.get(), "gpt");
    if (r < 0) return fail(-r, "fdisk_create_disklabel gpt '" + device + "'");
    fdisk_label* lb = api.fdisk_get_label(cxt.get(), "gpt");
    size_t partno = 0;
    for (const auto& p : parts) {
        if (p.start % ss || p.size % ss)
            return fail(EINVAL, "partition '" + p.name + "' is not aligned to the " +
                                    std::to_string(ss) + "-byte sectors of '" + device + "'");
        fdisk_partition* pa = api.fdisk_new_partition();
        if (!pa) return fail(ENOMEM, "fdisk_new_partition");
        fdisk_parttype* type = api.fdisk_label_get_parttype_from_string(lb, p.type.c_str());
        int e = 0;
        if (!type) e = -EINVAL;
        if (!e) e = api.fdisk_partition_set_partno(pa, partno++);
        if (!e) e = api.fdisk_partition_set_start(pa, p.start / ss);
        if (!e) e = api.fdisk_partition_set_size(pa, p.size / ss);
        if (!e) e = api.fdisk_partition_set_name(pa, p.name.c_str());
        if (!e) e = api.fdisk_partition_set_type(pa, type);
        if (!e) e = api.fdisk_add_partition(cxt.get(), pa, nullptr);
        api.fdisk_unref_partition(pa);
        if (type) api.fdisk_unref_parttype(type);
        if (e < 0)
            return fail(-e, "fdisk_add_partition '" + p.name + "' (type " + p.type + ") on '" +
                                device + "'");
    }
    r = api.fdisk_write_disklabel(cxt.get());
    if (r < 0) return fail(-r, "fdisk_write_disklabel '" + device + "'");
    (void)api.fdisk_reread_partition_table(cxt.get());
    return cxt.close(device);
}

}  // namespace imageinit::os
