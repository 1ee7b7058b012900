// The fuzz build checks Boost's assertions (BOOST_ENABLE_ASSERT_HANDLER):
// Beast's parser asserts what it assumes of its input, and a broken
// assumption is a finding. One assertion of Boost 1.81's Beast is itself
// wrong and is let pass (docs/fuzzing.md, "Findings").
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

// basic_parser::parse_chunk_header asserts five bytes ("\r\n0\r\n") when it
// resumes a final chunk, but a body whose only chunk is the final one
// resumes with three ("0\r\n"); the code after it is correct for both.
bool known_false(std::string_view expression, std::string_view file) {
    return expression == "n >= 5" && file.ends_with("beast/http/impl/basic_parser.ipp");
}

[[noreturn]] void report(const char* expression, const char* message, const char* function,
                         const char* file, long line) {
    std::fprintf(stderr, "Boost assertion failed: %s%s%s in %s at %s:%ld\n", expression,
                 message != nullptr ? ": " : "", message != nullptr ? message : "", function, file,
                 line);
    std::abort();
}

}  // namespace

namespace boost {

void assertion_failed(const char* expression, const char* function, const char* file, long line) {
    if (!known_false(expression, file)) report(expression, nullptr, function, file, line);
}

void assertion_failed_msg(const char* expression, const char* message, const char* function,
                          const char* file, long line) {
    if (!known_false(expression, file)) report(expression, message, function, file, line);
}

}  // namespace boost
