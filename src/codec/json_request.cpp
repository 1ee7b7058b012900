#include "json_request.hpp"

#include <charconv>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <raccoon/codec/base64.hpp>
#include <span>
#include <string>
#include <vector>

#include "request_refusals.hpp"

namespace raccoon::codec {
namespace {

using json = nlohmann::json;

// The fields of the request, its sent_time and its events that a key may name.
enum class field { unknown, req_guid, sent_time, events, seconds, nanos, type, event_bytes };

// The value being read: where it sits decides what it may be.
enum class place { request, sent_time, events, event, event_bytes, skipped };

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

field field_named(place where, std::string_view key) {
    struct name {
        std::string_view text;
        field names;
    };
    static constexpr name request_fields[] = {{"req_guid", field::req_guid},
                                              {"reqGuid", field::req_guid},
                                              {"sent_time", field::sent_time},
                                              {"sentTime", field::sent_time},
                                              {"events", field::events}};
    static constexpr name time_fields[] = {{"seconds", field::seconds}, {"nanos", field::nanos}};
    static constexpr name event_fields[] = {{"type", field::type},
                                            {"event_bytes", field::event_bytes},
                                            {"eventBytes", field::event_bytes}};
    std::span<const name> names;
    switch (where) {
        case place::request:
            names = request_fields;
            break;
        case place::sent_time:
            names = time_fields;
            break;
        case place::event:
            names = event_fields;
            break;
        default:
            return field::unknown;
    }
    for (const auto& n : names) {
        if (equal_ignoring_case(n.text, key)) return n.names;
    }
    return field::unknown;
}

// nlohmann's SAX events, turned into a batch as they come: no document is
// built, and each key is handled in the order it appears.
class request_reader {
 public:
    request_reader(std::size_t max_events, std::unique_ptr<core::batch> into)
        : batch(std::move(into)), max_events_(max_events) {}

    std::unique_ptr<core::batch> batch;
    std::optional<std::string> error;

    bool null() {
        // A body of null is an empty request, as Go reads it.
        if (places_.empty()) return true;
        switch (places_.back()) {
            case place::skipped:
                return true;
            case place::events:
                return fail(event_name() + " is null");
            case place::event_bytes:
                return byte(0, true);
            default:
                break;
        }
        // null empties a pointer or a slice and leaves any other field alone.
        switch (field_) {
            case field::sent_time:
                batch->sent_time_seconds = 0;
                batch->sent_time_nanos = 0;
                break;
            case field::events:
                batch->events.clear();
                break;
            case field::event_bytes:
                current_event().bytes.clear();
                break;
            default:
                break;
        }
        return true;
    }

    bool boolean(bool) { return scalar("a boolean"); }
    bool number_float(double, const std::string&) { return scalar("a fraction"); }
    bool binary(json::binary_t&) { return scalar("binary"); }

    bool number_integer(std::int64_t value) { return integer(value); }

    bool number_unsigned(std::uint64_t value) {
        if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return integer(std::nullopt);
        }
        return integer(static_cast<std::int64_t>(value));
    }

    bool string(std::string& value) {
        if (auto decided = decided_by_place()) return *decided;
        const place where = places_.back();
        if (where == place::request && field_ == field::req_guid) {
            batch->req_guid = std::move(value);
            return true;
        }
        if (where == place::sent_time && (field_ == field::seconds || field_ == field::nanos)) {
            // protojson writes int64 as a string.
            std::int64_t parsed = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
            const bool whole = ec == std::errc{} && end == value.data() + value.size();
            return integer(whole ? std::optional(parsed) : std::nullopt);
        }
        if (where == place::event && field_ == field::type) {
            current_event().type = std::move(value);
            return true;
        }
        if (where == place::event && field_ == field::event_bytes) {
            auto decoded = base64_decode(value);
            if (!decoded) return fail(event_name() + ".event_bytes is not base64");
            current_event().bytes = std::move(*decoded);
            return true;
        }
        return scalar("a string");
    }

    bool key(std::string& name) {
        field_ = field_named(places_.back(), name);
        return true;
    }

    bool start_object(std::size_t) {
        if (places_.empty()) return enter(place::request);
        switch (places_.back()) {
            case place::skipped:
                return enter(place::skipped);
            case place::events:
                if (event_index_ == max_events_)
                    return fail(too_many_events(std::nullopt, max_events_));
                // As Go does, a repeated "events" decodes into the events it
                // already read, then drops those beyond its own count.
                if (event_index_ == batch->events.size()) batch->events.emplace_back();
                return enter(place::event);
            case place::event_bytes:
                return fail(byte_name() + " is not a byte (0-255)");
            default:
                break;
        }
        if (field_ == field::sent_time) return enter(place::sent_time);
        if (field_ == field::unknown) return enter(place::skipped);
        return scalar("an object");
    }

    bool end_object() {
        if (places_.back() == place::event) ++event_index_;
        places_.pop_back();
        return true;
    }

    bool start_array(std::size_t) {
        if (places_.empty()) return fail("body is not a JSON object");
        switch (places_.back()) {
            case place::skipped:
                return enter(place::skipped);
            case place::events:
                return fail(event_name() + " is not an object");
            case place::event_bytes:
                return fail(byte_name() + " is not a byte (0-255)");
            default:
                break;
        }
        if (field_ == field::events && places_.back() == place::request) {
            event_index_ = 0;
            return enter(place::events);
        }
        if (field_ == field::event_bytes && places_.back() == place::event) {
            byte_index_ = 0;
            return enter(place::event_bytes);
        }
        if (field_ == field::unknown) return enter(place::skipped);
        return scalar("an array");
    }

    bool end_array() {
        if (places_.back() == place::events) batch->events.resize(event_index_);
        if (places_.back() == place::event_bytes) current_event().bytes.resize(byte_index_);
        places_.pop_back();
        return true;
    }

    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
        // A req_guid read before the body broke off names nothing reliably.
        batch->req_guid.clear();
        if (!error) error = "body is not valid JSON";
        return false;
    }

 private:
    std::size_t max_events_;
    std::vector<place> places_;
    field field_ = field::unknown;
    std::size_t event_index_ = 0;
    std::size_t byte_index_ = 0;

    core::event& current_event() { return batch->events[event_index_]; }

    bool enter(place where) {
        places_.push_back(where);
        field_ = field::unknown;
        return true;
    }

    bool fail(std::string reason) {
        error = std::move(reason);
        return false;
    }

    std::string event_name() const { return "events[" + std::to_string(event_index_) + "]"; }

    std::string byte_name() const {
        return event_name() + ".event_bytes[" + std::to_string(byte_index_) + "]";
    }

    std::string field_name() const {
        switch (field_) {
            case field::req_guid:
                return "req_guid";
            case field::sent_time:
                return "sent_time";
            case field::events:
                return "events";
            case field::seconds:
                return "sent_time.seconds";
            case field::nanos:
                return "sent_time.nanos";
            case field::type:
                return event_name() + ".type";
            case field::event_bytes:
                return event_name() + ".event_bytes";
            case field::unknown:
                break;
        }
        return "a field";
    }

    // What a field of the wrong kind is refused with.
    std::string expected_for_field() const {
        switch (field_) {
            case field::req_guid:
            case field::type:
                return "a string";
            case field::sent_time:
                return "an object of seconds and nanos";
            case field::events:
                return "an array";
            case field::seconds:
                return "an integer";
            case field::nanos:
                return "a 32-bit integer";
            case field::event_bytes:
                return "a base64 string or an array of bytes (0-255)";
            case field::unknown:
                break;
        }
        return "a known kind";
    }

    // What the place alone decides of a value that is neither an object nor
    // an array: nothing to do, or a refusal; nullopt when the field decides.
    std::optional<bool> decided_by_place() {
        if (places_.empty()) return fail("body is not a JSON object");
        switch (places_.back()) {
            case place::skipped:
                return true;
            case place::events:
                return fail(event_name() + " is not an object");
            case place::event_bytes:
                return fail(byte_name() + " is not a byte (0-255)");
            default:
                return std::nullopt;
        }
    }

    // A scalar of kind `what` where no field takes it.
    bool scalar(std::string_view what) {
        if (auto decided = decided_by_place()) return *decided;
        if (field_ == field::unknown) return true;
        return fail(field_name() + " is " + std::string(what) + ", not " + expected_for_field());
    }

    bool byte(std::int64_t value, bool is_null) {
        auto& bytes = current_event().bytes;
        if (!is_null && (value < 0 || value > 255)) {
            return fail(byte_name() + " is not a byte (0-255)");
        }
        // null leaves a byte as it was: zero, unless a repeated key wrote it.
        if (byte_index_ == bytes.size()) bytes.push_back('\0');
        if (!is_null) bytes[byte_index_] = static_cast<char>(value);
        ++byte_index_;
        return true;
    }

    bool integer(std::optional<std::int64_t> value) {
        if (!places_.empty() && places_.back() == place::event_bytes) {
            if (!value) return fail(byte_name() + " is not a byte (0-255)");
            return byte(*value, false);
        }
        if (auto decided = decided_by_place()) return *decided;
        if (places_.back() == place::sent_time && field_ == field::seconds) {
            if (!value) return fail("sent_time.seconds is not a 64-bit integer");
            batch->sent_time_seconds = *value;
            return true;
        }
        if (places_.back() == place::sent_time && field_ == field::nanos) {
            if (!value || *value < std::numeric_limits<std::int32_t>::min() ||
                *value > std::numeric_limits<std::int32_t>::max()) {
                return fail("sent_time.nanos is not a 32-bit integer");
            }
            batch->sent_time_nanos = static_cast<std::int32_t>(*value);
            return true;
        }
        return scalar("a number");
    }
};

}  // namespace

std::expected<std::unique_ptr<core::batch>, decode_error> decode_json_request(
    std::string_view body, std::size_t max_events, std::unique_ptr<core::batch> into) {
    request_reader reader(max_events, std::move(into));
    const bool parsed = json::sax_parse(body.begin(), body.end(), &reader);
    if (!parsed || reader.error) {
        return std::unexpected(decode_error{reader.error.value_or("body is not valid JSON"),
                                            std::move(reader.batch->req_guid)});
    }
    return std::move(reader.batch);
}

}  // namespace raccoon::codec
