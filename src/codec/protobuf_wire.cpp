#include "protobuf_wire.hpp"

#include <cstdint>
#include <raccoon/codec/utf8.hpp>

namespace raccoon::codec {
namespace {

enum wire_type : std::uint32_t {
    varint = 0,
    fixed64 = 1,
    length_delimited = 2,
    start_group = 3,
    end_group = 4,
    fixed32 = 5,
};

// libprotobuf's default limit on nested messages and groups.
constexpr int max_depth = 100;

class wire_reader {
 public:
    explicit wire_reader(std::string_view data) : next_(data.data()), end_(next_ + data.size()) {}

    bool at_end() const noexcept { return next_ == end_; }

    bool read_varint(std::uint64_t& value, int max_bytes = 10) {
        value = 0;
        for (int i = 0; i < max_bytes; ++i) {
            if (next_ == end_) return false;
            const auto byte = static_cast<std::uint8_t>(*next_++);
            // A tenth byte adds its low bit; the bits past 64 are dropped.
            value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
            if ((byte & 0x80) == 0) return true;
        }
        return false;
    }

    // A field's tag: at most five bytes, of which the low 32 bits count, and
    // a field number above zero.
    bool read_tag(std::uint32_t& field, std::uint32_t& type) {
        std::uint64_t value;
        if (!read_varint(value, 5)) return false;
        const auto tag = static_cast<std::uint32_t>(value);
        field = tag >> 3;
        type = tag & 7;
        return field != 0;
    }

    bool read_length_delimited(std::string_view& value) {
        std::uint64_t length;
        if (!read_varint(length, 5) || length > 0x7fffffffu) return false;
        if (length > static_cast<std::uint64_t>(end_ - next_)) return false;
        value = {next_, static_cast<std::size_t>(length)};
        next_ += length;
        return true;
    }

    bool skip(std::size_t bytes) {
        if (bytes > static_cast<std::size_t>(end_ - next_)) return false;
        next_ += bytes;
        return true;
    }

    // Skips the value of a field this schema does not read.
    bool skip_field(std::uint32_t field, std::uint32_t type, int depth) {
        std::uint64_t ignored;
        std::string_view ignored_bytes;
        switch (type) {
            case varint:
                return read_varint(ignored);
            case fixed64:
                return skip(8);
            case length_delimited:
                return read_length_delimited(ignored_bytes);
            case fixed32:
                return skip(4);
            case start_group:
                return skip_group(field, depth + 1);
            default:
                // A stray end of group, or wire types 6 and 7.
                return false;
        }
    }

 private:
    bool skip_group(std::uint32_t group_field, int depth) {
        if (depth > max_depth) return false;
        for (;;) {
            std::uint32_t field;
            std::uint32_t type;
            if (!read_tag(field, type)) return false;
            if (type == end_group) return field == group_field;
            if (!skip_field(field, type, depth)) return false;
        }
    }

    const char* next_;
    const char* end_;
};

// Reads a message's fields: `read_known(reader, field, type)` reads a field
// of the schema and says whether it was well formed, or returns nullopt for
// any other field, which is then skipped.
template <class ReadKnown>
bool read_fields(std::string_view data, int depth, ReadKnown read_known) {
    wire_reader reader(data);
    while (!reader.at_end()) {
        std::uint32_t field;
        std::uint32_t type;
        if (!reader.read_tag(field, type)) return false;
        const std::optional<bool> known = read_known(reader, field, type);
        if (known.has_value() ? !*known : !reader.skip_field(field, type, depth)) return false;
    }
    return true;
}

bool parse_event(std::string_view data, core::event& e, int depth) {
    return read_fields(
        data, depth,
        [&e](wire_reader& reader, std::uint32_t field, std::uint32_t type) -> std::optional<bool> {
            if (type != length_delimited || (field != 1 && field != 2)) {
                return std::nullopt;
            }
            std::string_view value;
            if (!reader.read_length_delimited(value)) return false;
            if (field == 1) {
                e.bytes.assign(value);
                return true;
            }
            if (!valid_utf8(value)) return false;
            e.type.assign(value);
            return true;
        });
}

bool merge_timestamp(std::string_view data, core::batch& b, int depth) {
    return read_fields(
        data, depth,
        [&b](wire_reader& reader, std::uint32_t field, std::uint32_t type) -> std::optional<bool> {
            if (type != varint || (field != 1 && field != 2)) return std::nullopt;
            std::uint64_t value;
            if (!reader.read_varint(value)) return false;
            if (field == 1) {
                b.sent_time_seconds = static_cast<std::int64_t>(value);
            } else {
                // An int32 field keeps the varint's low 32 bits.
                b.sent_time_nanos = static_cast<std::int32_t>(static_cast<std::uint32_t>(value));
            }
            return true;
        });
}

void write_varint(std::string& out, std::uint64_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<char>((value & 0x7f) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

void write_tag(std::string& out, std::uint32_t field, wire_type type) {
    write_varint(out, (field << 3) | type);
}

void write_length_delimited(std::string& out, std::uint32_t field, std::string_view value) {
    write_tag(out, field, length_delimited);
    write_varint(out, value.size());
    out.append(value);
}

std::size_t varint_size(std::uint64_t value) {
    std::size_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        ++size;
    }
    return size;
}

}  // namespace

// The batch's vector is then allocated once instead of growing (1, 2, 4, 8,
// 16 for ten events); the parse refuses a malformed body.
std::size_t count_events(std::string_view body) {
    std::size_t events = 0;
    read_fields(
        body, 0,
        [&events](wire_reader&, std::uint32_t field, std::uint32_t type) -> std::optional<bool> {
            if (field == 3 && type == length_delimited) ++events;
            return std::nullopt;  // skipped, as every field is here
        });
    return events;
}

std::string write_send_event_response(int status, int code, std::int64_t sent_time,
                                      std::string_view reason,
                                      const std::optional<std::string>& req_guid) {
    constexpr std::string_view data_key = "req_guid";
    std::string out;
    out.reserve(32 + reason.size() + (req_guid ? req_guid->size() + data_key.size() : 0));
    // Enums and int64 are varints, negative ones as their 64-bit two's complement.
    if (status != 0) {
        write_tag(out, 1, varint);
        write_varint(out, static_cast<std::uint64_t>(static_cast<std::int64_t>(status)));
    }
    if (code != 0) {
        write_tag(out, 2, varint);
        write_varint(out, static_cast<std::uint64_t>(static_cast<std::int64_t>(code)));
    }
    if (sent_time != 0) {
        write_tag(out, 3, varint);
        write_varint(out, static_cast<std::uint64_t>(sent_time));
    }
    if (!reason.empty()) write_length_delimited(out, 4, reason);
    if (req_guid) {
        // One map entry: a message of key (1) and value (2).
        const std::size_t entry_size = 1 + varint_size(data_key.size()) + data_key.size() + 1 +
                                       varint_size(req_guid->size()) + req_guid->size();
        write_tag(out, 5, length_delimited);
        write_varint(out, entry_size);
        write_length_delimited(out, 1, data_key);
        write_length_delimited(out, 2, *req_guid);
    }
    return out;
}

std::optional<std::unique_ptr<core::batch>> parse_send_event_request(
    std::string_view body, std::unique_ptr<core::batch> into) {
    std::unique_ptr<core::batch> b = std::move(into);
    b->events.reserve(count_events(body));
    const bool well_formed = read_fields(
        body, 0,
        [&b](wire_reader& reader, std::uint32_t field, std::uint32_t type) -> std::optional<bool> {
            if (type != length_delimited || field < 1 || field > 3) return std::nullopt;
            std::string_view value;
            if (!reader.read_length_delimited(value)) return false;
            switch (field) {
                case 1:
                    if (!valid_utf8(value)) return false;
                    b->req_guid.assign(value);
                    return true;
                case 2:
                    return merge_timestamp(value, *b, 1);
                default:
                    return parse_event(value, b->events.emplace_back(), 1);
            }
        });
    if (!well_formed) return std::nullopt;
    return b;
}

}  // namespace raccoon::codec
