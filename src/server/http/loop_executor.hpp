#pragma once

#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>
#include <type_traits>
#include <utility>

namespace raccoon::server::http {

// An io_context executor that does not count outstanding work. Beast and Asio
// hold their I/O executor "tracked" for the life of every composed operation:
// an atomic increment and decrement of the loop's work counter, the one other
// threads' posts update too, several times per request and per ack (about 3%
// of the server's profile at full load). The loops need no such count: io_pool keeps
// each running with a guard of its own and stops them itself. Every other
// property is the io_context executor's.
template <class Inner>
class basic_loop_executor {
 public:
    explicit basic_loop_executor(const Inner& inner) noexcept : inner_(inner) {}

    template <class Function>
    void execute(Function&& f) const {
        inner_.execute(std::forward<Function>(f));
    }

    friend bool operator==(const basic_loop_executor& a, const basic_loop_executor& b) noexcept {
        return a.inner_ == b.inner_;
    }
    friend bool operator!=(const basic_loop_executor& a, const basic_loop_executor& b) noexcept {
        return !(a == b);
    }

    static constexpr boost::asio::execution::outstanding_work_t query(
        boost::asio::execution::outstanding_work_t) noexcept {
        return boost::asio::execution::outstanding_work.untracked;
    }

    template <class Property>
    auto query(const Property& property) const
        noexcept(noexcept(boost::asio::query(std::declval<const Inner&>(), property)))
            -> decltype(boost::asio::query(std::declval<const Inner&>(), property)) {
        return boost::asio::query(inner_, property);
    }

    basic_loop_executor require(
        boost::asio::execution::outstanding_work_t::tracked_t) const noexcept {
        return *this;
    }
    basic_loop_executor require(
        boost::asio::execution::outstanding_work_t::untracked_t) const noexcept {
        return *this;
    }

    template <class Property>
    auto require(const Property& property) const -> basic_loop_executor<
        std::decay_t<decltype(boost::asio::require(std::declval<const Inner&>(), property))>> {
        using required = std::decay_t<decltype(boost::asio::require(inner_, property))>;
        return basic_loop_executor<required>(boost::asio::require(inner_, property));
    }

 private:
    Inner inner_;
};

using loop_executor = basic_loop_executor<boost::asio::io_context::executor_type>;

// What Beast's and Asio's work guards ask for is the executor itself, untracked.
static_assert(
    std::is_same_v<decltype(boost::asio::prefer(std::declval<loop_executor>(),
                                                boost::asio::execution::outstanding_work.tracked)),
                   loop_executor>);

}  // namespace raccoon::server::http
