#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace raccoon::config {

using milliseconds = std::chrono::milliseconds;

// A setting that cannot be used; what() is the one line start-up prints.
class invalid_setting : public std::runtime_error {
 public:
    invalid_setting(const std::string& key, const std::string& value, const std::string& allowed);

    const std::string& key() const noexcept { return key_; }

 private:
    std::string key_;
};

// What start-up should warn about: keys it does not know, values it raised or
// lowered to the nearest usable one, risky combinations. Never a refusal:
// whatever upstream starts with, this server starts with too.
using warning_list = std::vector<std::string>;

// How a setting's text becomes a value of a `Target` (the settings struct, or
// a module's own): the function, the values it takes as the docs and the
// error messages say them, and whether its flag alone means true (as pflag's).
template <typename Target>
struct binder {
    std::function<void(Target&, const std::string& key, const std::string& value,
                       warning_list& warnings)>
        apply;
    std::string allowed;
    bool is_boolean = false;
};

// One setting: its variable, where it sits in a YAML file (as upstream's
// config.sample.yml nests it; canonical_key(yaml) is key), its default, its
// meaning, how it differs from upstream's (empty when it does not) and its binder.
template <typename Target>
struct descriptor {
    std::string_view key;
    std::string_view yaml;
    std::string_view default_value;
    std::string_view meaning;
    std::string_view upstream;
    binder<Target> bind;
};

// A setting's row in --help, docs/configuration.md and config/raccoon.yaml.
struct setting_row {
    std::string_view key;
    std::string_view yaml;
    std::string_view default_value;
    std::string_view meaning;
    std::string_view upstream;
    std::string allowed;
    bool is_boolean = false;
};

// Values a setting's own range does not hold but upstream starts with are
// moved to the nearest bound, with a warning; values no server could use
// (a port outside 1-65535) stop start-up.
enum class out_of_range { nearest, refuse };

std::string range_text(std::int64_t min, std::int64_t max);
// Go's strconv.Atoi and ParseBool, which upstream parses with.
std::int64_t parse_integer(const std::string& key, const std::string& value, std::int64_t min,
                           std::int64_t max, warning_list& warnings,
                           out_of_range policy = out_of_range::nearest);
bool parse_bool(const std::string& key, const std::string& value);
// Upstream takes lists separated by commas or spaces (viper's string slices).
std::vector<std::string> parse_list(const std::string& value);
std::string lowercase(std::string text);

// Binders from a setting's text to one field of a Target, reached by
// `member`, a function from Target& to the field's reference.
template <typename Target, typename Member>
binder<Target> integer_field(Member member, std::int64_t min, std::int64_t max,
                             out_of_range policy = out_of_range::nearest) {
    return {[=](Target& t, const std::string& key, const std::string& value, warning_list& w) {
                auto& field = member(t);
                field = static_cast<std::remove_reference_t<decltype(field)>>(
                    parse_integer(key, value, min, max, w, policy));
            },
            "an integer from " + range_text(min, max)};
}

template <typename Target, typename Member>
binder<Target> port_field(Member member) {
    return integer_field<Target>(member, 1, 65535, out_of_range::refuse);
}

template <typename Target, typename Member>
binder<Target> duration_field(Member member, std::int64_t min_ms) {
    const std::int64_t max_ms = std::numeric_limits<std::int32_t>::max();
    return {[=](Target& t, const std::string& key, const std::string& value, warning_list& w) {
                member(t) = milliseconds{parse_integer(key, value, min_ms, max_ms, w)};
            },
            "milliseconds, " + range_text(min_ms, max_ms)};
}

template <typename Target, typename Member>
binder<Target> bool_field(Member member) {
    return {[=](Target& t, const std::string& key, const std::string& value, warning_list&) {
                member(t) = parse_bool(key, value);
            },
            "true or false (also 1, 0, t, f)", true};
}

template <typename Target, typename Member>
binder<Target> string_field(Member member) {
    return {[=](Target& t, const std::string&, const std::string& value, warning_list&) {
                member(t) = value;
            },
            "any text"};
}

template <typename Target, typename Member>
binder<Target> list_field(Member member) {
    return {[=](Target& t, const std::string&, const std::string& value, warning_list&) {
                member(t) = parse_list(value);
            },
            "a list, separated by commas or spaces"};
}

// One of a few words, case-insensitive; aliases map to a word.
template <typename Target, typename Member, typename Value>
binder<Target> choice_field(Member member, std::vector<std::pair<std::string, Value>> choices,
                            std::string allowed) {
    return {[=](Target& t, const std::string& key, const std::string& value, warning_list&) {
                const std::string lower = lowercase(value);
                for (const auto& [word, chosen] : choices) {
                    if (word == lower) {
                        member(t) = chosen;
                        return;
                    }
                }
                throw invalid_setting(key, value, allowed);
            },
            allowed};
}

// A setting upstream reads that has no use here: its value is checked as
// upstream checks it, then left alone.
template <typename Target>
binder<Target> accepted_integer() {
    return {[](Target&, const std::string& key, const std::string& value, warning_list& w) {
                parse_integer(key, value, std::numeric_limits<std::int64_t>::min(),
                              std::numeric_limits<std::int64_t>::max(), w);
            },
            "an integer (read, not used)"};
}

template <typename Target>
binder<Target> accepted_text() {
    return {[](Target&, const std::string&, const std::string&, warning_list&) {},
            "any text (read, not used)"};
}

template <typename Target>
binder<Target> accepted_bool() {
    return {[](Target&, const std::string& key, const std::string& value, warning_list&) {
                parse_bool(key, value);
            },
            "true or false (read, not used)", true};
}

// The settings' text as given by the file, the environment and the flags,
// by variable name; a setting at its default is absent.
using given_values = std::map<std::string, std::string>;

// The settings another module owns (a publisher's), with their rows: read with
// the others, checked at start-up whichever module is used, and turned into the
// module's own struct when it is. Keys may also be passed through by prefix,
// as PUBLISHER_KAFKA_CLIENT_* is to librdkafka.
class setting_group {
 public:
    template <typename Target>
    struct options {
        std::vector<descriptor<Target>> rows;
        // Keys starting with it (beyond the rows) reach `pass_through`.
        std::string_view prefix;
        std::function<void(Target&, const std::string& key, const std::string& value)> pass_through;
        // Checks of several settings together, after each is read; `given`
        // tells a default from a value given.
        std::function<void(Target&, const given_values& given)> finish;
    };

    // A group of rows alone: nothing passed through, no check across them.
    template <typename Target>
    explicit setting_group(std::vector<descriptor<Target>> rows)
        : setting_group(options<Target>{std::move(rows), {}, {}, {}}) {}

    template <typename Target>
    explicit setting_group(options<Target> o) : prefix_(o.prefix) {
        for (const auto& d : o.rows) {
            rows_.push_back({d.key, d.yaml, d.default_value, d.meaning, d.upstream, d.bind.allowed,
                             d.bind.is_boolean});
        }
        read_ = [o = std::move(o)](const given_values& given, warning_list& warnings) {
            Target target;
            auto pass = [&](const std::string& key, const std::string& value) {
                if (o.pass_through && !value.empty()) o.pass_through(target, key, value);
            };
            for (const auto& d : o.rows) {
                const std::string key(d.key);
                const auto found = given.find(key);
                const std::string value =
                    found != given.end() ? found->second : std::string(d.default_value);
                // A row without a binder documents a key passed through.
                if (d.bind.apply) {
                    d.bind.apply(target, key, value, warnings);
                } else {
                    pass(key, value);
                }
            }
            if (!o.prefix.empty()) {
                for (auto it = given.lower_bound(std::string(o.prefix));
                     it != given.end() && it->first.starts_with(o.prefix); ++it) {
                    if (!is_row(o.rows, it->first)) pass(it->first, it->second);
                }
            }
            if (o.finish) o.finish(target, given);
            return std::any(std::move(target));
        };
    }

    const std::vector<setting_row>& rows() const noexcept { return rows_; }

    // Whether the key is one of the group's: a row's, or one passed through.
    bool owns(std::string_view key) const;

    // The group's struct from the given values, adding what start-up should
    // warn about. Throws invalid_setting for a value that cannot be used.
    template <typename Target>
    Target read(const given_values& given, warning_list& warnings) const {
        return std::any_cast<Target>(read_(given, warnings));
    }

    // The same, once load() has said the warnings: a publisher's prepare().
    template <typename Target>
    Target read(const given_values& given) const {
        warning_list said_at_load;
        return read<Target>(given, said_at_load);
    }

    // Reads and discards: start-up refuses a bad value of any group.
    void check(const given_values& given, warning_list& warnings) const { read_(given, warnings); }

 private:
    template <typename Target>
    static bool is_row(const std::vector<descriptor<Target>>& rows, const std::string& key) {
        for (const auto& d : rows) {
            if (d.key == key) return true;
        }
        return false;
    }

    std::vector<setting_row> rows_;
    std::string_view prefix_;
    std::function<std::any(const given_values&, warning_list&)> read_;
};

}  // namespace raccoon::config
