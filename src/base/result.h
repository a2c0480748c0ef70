// Result<T>: a value or an Error (errno + message), with TRY propagation.
// PID 1 never throws; every fallible call returns one of these. Member names follow
// std::expected so this can become std::expected once the toolchain has it.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace imageinit {

struct Error {
    int code = 0;         // errno value, or 0 for errors that are not system errors (parse, policy)
    std::string message;  // lower-case, user strings quoted: "mount '/x' on '/y': no such device"
};

class Unexpected {
  public:
    explicit Unexpected(Error e) : error_(std::move(e)) {}
    const Error& error() const& { return error_; }
    Error&& error() && { return std::move(error_); }

  private:
    Error error_;
};

// A failure with a message and no errno (parse and policy errors).
inline Unexpected fail(std::string message) { return Unexpected(Error{0, std::move(message)}); }
// A failure carrying an errno.
inline Unexpected fail(int code, std::string message) {
    return Unexpected(Error{code, std::move(message)});
}
// A failed system call: "CALL 'PATH': strerror(errno)". Reads errno, so call it right after.
inline Unexpected fail_errno(std::string_view call, std::string_view path) {
    int saved = errno;
    std::string msg(call);
    if (!path.empty()) {
        msg += " '";
        msg += path;
        msg += "'";
    }
    msg += ": ";
    msg += std::strerror(saved);
    return Unexpected(Error{saved, std::move(msg)});
}

template <typename T>
class [[nodiscard]] Result {
  public:
    using value_type = T;
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Unexpected u) : v_(std::in_place_index<1>, std::move(u).error()) {}
    template <typename U>
    requires std::is_constructible_v<T, U&&> &&(!std::is_same_v<std::decay_t<U>, Result>)&&(
        !std::is_same_v<std::decay_t<U>, Unexpected>)&&(!std::is_same_v<std::decay_t<U>, T>)
        Result(U&& value)
        : v_(std::in_place_index<0>, T(std::forward<U>(value))) {}

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    template <typename U>
    T value_or(U&& fallback) const& {
        return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
    }

    const Error& error() const& { return std::get<1>(v_); }
    Error&& error() && { return std::get<1>(std::move(v_)); }

  private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    using value_type = void;
    Result() = default;
    Result(Unexpected u) : error_(std::move(u).error()), ok_(false) {}

    bool has_value() const { return ok_; }
    explicit operator bool() const { return ok_; }
    void value() const {}
    const Error& error() const& { return error_; }
    Error&& error() && { return std::move(error_); }

  private:
    Error error_;
    bool ok_ = true;
};

inline Result<void> ok() { return {}; }

// Prefixes the message with context as the error travels up: "mount-image: ...".
inline Error with_context(Error e, std::string_view context) {
    std::string msg(context);
    msg += ": ";
    msg += e.message;
    e.message = std::move(msg);
    return e;
}

template <typename T>
Result<T> add_context(Result<T> r, std::string_view context) {
    if (r) return r;
    return Unexpected(with_context(std::move(r).error(), context));
}

}  // namespace imageinit

// TRY(expr): evaluates a Result; on error returns it from the enclosing function, otherwise
// yields the value. Uses a GNU statement expression (g++ and clang both have it).
#define TRY(expr)                                                                         \
    ({                                                                                    \
        auto&& try_result_ = (expr);                                                      \
        if (!try_result_) return ::imageinit::Unexpected(std::move(try_result_).error()); \
        std::move(try_result_).value();                                                   \
    })

// TRY_CTX(expr, "context"): as TRY, prefixing the error message with the context.
#define TRY_CTX(expr, ctx)                                                         \
    ({                                                                             \
        auto&& try_result_ = (expr);                                               \
        if (!try_result_)                                                          \
            return ::imageinit::Unexpected(                                        \
                ::imageinit::with_context(std::move(try_result_).error(), (ctx))); \
        std::move(try_result_).value();                                            \
    })
