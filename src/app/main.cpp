#include <cstdio>
#include <exception>
#include <iostream>
#include <raccoon/app/app.hpp>
#include <raccoon/config/settings.hpp>
#include <raccoon/publisher/registry.hpp>
#include <string>
#include <vector>

#include "raccoon_version.hpp"

// jemalloc's options, read when it starts: a background thread of its own
// gives freed pages back to the system within its decay time (10 s) after a
// burst, even when the server then idles; without it pages are purged only by
// later allocations, and a burst's memory stays resident long after it
// (issue 18).
// Under a sanitizer, whose allocator replaces jemalloc, nothing reads it.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's.
const char* malloc_conf = "background_thread:true";
}

namespace {

constexpr std::string_view usage =
    "Usage: raccoon server [-c FILE] [--NAME=VALUE ...]\n"
    "       raccoon server --help    lists every setting with its default\n"
    "       raccoon config sample    prints a YAML file of every setting at its default\n"
    "       raccoon config reference prints the settings table of docs/configuration.md\n"
    "       raccoon version          prints the version and the commit built\n";

int config_command(const std::vector<std::string>& args) {
    if (args.size() == 2 && args[1] == "sample") {
        std::cout << raccoon::config::sample_yaml(raccoon::publisher::setting_groups());
        return 0;
    }
    if (args.size() == 2 && args[1] == "reference") {
        std::cout << raccoon::config::reference_markdown(raccoon::publisher::setting_groups());
        return 0;
    }
    std::cerr << "raccoon: config takes sample or reference\n" << usage;
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << usage;
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "version" || args[0] == "--version") {
        std::cout << "raccoon " << RACCOON_VERSION << " (commit " << RACCOON_COMMIT << ")\n";
        return 0;
    }
    if (args[0] == "config") return config_command(args);
    if (args[0] != "server") {
        std::cerr << "raccoon: unknown command \"" << args[0] << "\"\n" << usage;
        return 2;
    }
    args.erase(args.begin());
    for (const auto& arg : args) {
        if (arg == "--help" || arg == "-h") {
            std::cout << raccoon::config::help_text(raccoon::publisher::setting_groups());
            return 0;
        }
    }

    try {
        auto settings = raccoon::config::load(args, raccoon::config::process_environment(),
                                              raccoon::publisher::setting_groups());
        return raccoon::app::run(settings);
    } catch (const raccoon::config::invalid_setting& e) {
        std::cerr << "raccoon: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "raccoon: cannot start: " << e.what() << "\n";
        return 1;
    }
}
