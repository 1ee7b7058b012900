#include <cstdio>
#include <exception>
#include <iostream>
#include <raccoon/app/app.hpp>
#include <raccoon/config/settings.hpp>
#include <string>
#include <vector>

namespace {

constexpr std::string_view usage =
    "Usage: raccoon server [--config FILE] [--NAME=VALUE ...]\n"
    "       raccoon server --help   lists every setting with its default\n";

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << usage;
        return args.empty() ? 2 : 0;
    }
    if (args[0] != "server") {
        std::cerr << "raccoon: unknown command \"" << args[0] << "\"\n" << usage;
        return 2;
    }
    args.erase(args.begin());
    for (const auto& arg : args) {
        if (arg == "--help" || arg == "-h") {
            std::cout << raccoon::config::help_text();
            return 0;
        }
    }

    try {
        auto settings = raccoon::config::load(args, raccoon::config::process_environment());
        return raccoon::app::run(settings);
    } catch (const raccoon::config::invalid_setting& e) {
        std::cerr << "raccoon: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "raccoon: cannot start: " << e.what() << "\n";
        return 1;
    }
}
