// CHandle<T, free_fn>: one deleter template for the C library handles (libmount tables and
// contexts, blkid probes and caches, crypt_device, zstd contexts).
#pragma once

#include <memory>

namespace imageinit {

template <auto FreeFn>
struct CFree {
    template <typename T>
    void operator()(T* p) const {
        if (p) FreeFn(p);
    }
};

template <typename T, auto FreeFn>
using CHandle = std::unique_ptr<T, CFree<FreeFn>>;

}  // namespace imageinit
