#include <raccoon/core/error.hpp>

namespace raccoon::core {
namespace {

class category final : public std::error_category {
 public:
    const char* name() const noexcept override { return "raccoon"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::bad_request:
                return "bad request";
            case errc::request_too_large:
                return "request too large";
            case errc::unsupported_media_type:
                return "unsupported content type";
            case errc::publish_failed:
                return "publish failed";
            case errc::shutting_down:
                return "server is shutting down";
            case errc::too_many_new_topics:
                return "too many new topics";
        }
        return "unknown error";
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace raccoon::core
