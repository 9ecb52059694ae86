#pragma once
// Shared CLI plumbing: parsing with one-line errors (exit 2) and common flag helpers.
#include <cxxopts.hpp>
#include <string>
#include <vector>

namespace esync::cli {

// Parses argv; any cxxopts error, unknown flag or stray positional becomes a ConfigError.
// Prints help and returns false when --help was given.
bool parse(cxxopts::Options& opts, int argc, char** argv, cxxopts::ParseResult& out);

// "1x28x28" -> {1, 28, 28}
std::vector<std::int64_t> parse_shape(const std::string& s, const std::string& flag);
// "1,2,4" -> {1, 2, 4} (any separator in ",")
std::vector<double> parse_list(const std::string& s, const std::string& flag);
// "4096", "1K", "256M", "1G" (powers of 1024) -> bytes; ConfigError naming the flag otherwise.
std::size_t parse_bytes(const std::string& s, const std::string& flag);
// --metrics-port: -1 (none), 0 (a free port) or a port; ConfigError otherwise.
int metrics_port(const cxxopts::ParseResult& r);
// Default thread count: the machine's cores.
int default_threads();

}  // namespace esync::cli
