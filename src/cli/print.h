// Standard output and error for the commands, without <iostream>: the C++ streams bring
// libstdc++'s locale machinery (about half of the binary) into the statically linked program
// that is also the initramfs's /init, and construct it at every start, PID 1 included.
#pragma once

#include <concepts>
#include <cstdio>
#include <string>
#include <string_view>

namespace imageinit::cli {

namespace detail {
inline void append(std::string& s, std::string_view piece) { s.append(piece); }
template <std::integral I>
requires(!std::same_as<I, char> && !std::same_as<I, bool>) void append(std::string& s, I number) {
    s += std::to_string(number);
}
}  // namespace detail

// out("slot ", name, ": ", tries, " tries\n"): the pieces joined, written in one call.
template <typename... Pieces>
void out(const Pieces&... pieces) {
    std::string s;
    (detail::append(s, pieces), ...);
    std::fwrite(s.data(), 1, s.size(), stdout);
}

template <typename... Pieces>
void err(const Pieces&... pieces) {
    std::string s;
    (detail::append(s, pieces), ...);
    std::fwrite(s.data(), 1, s.size(), stderr);
}

}  // namespace imageinit::cli
