#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>

#include "esync/error.hpp"
#include "summary_detail.hpp"

namespace esync::summary_detail {
namespace fs = std::filesystem;

const json* LogFile::first(const std::string& ev) const {
  for (const auto& e : events)
    if (str(e, "ev") == ev) return &e;
  return nullptr;
}

const json* LogFile::last(const std::string& ev) const {
  for (auto it = events.rbegin(); it != events.rend(); ++it)
    if (str(*it, "ev") == ev) return &*it;
  return nullptr;
}

std::vector<const json*> LogFile::all(const std::string& ev) const {
  std::vector<const json*> out;
  for (const auto& e : events)
    if (str(e, "ev") == ev) out.push_back(&e);
  return out;
}

double num(const json& e, const char* key, double fallback) { return opt_num(e, key).value_or(fallback); }

std::optional<double> opt_num(const json& e, const char* key) {
  if (!e.is_object()) return std::nullopt;
  const auto it = e.find(key);
  if (it == e.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::string str(const json& e, const char* key, const std::string& fallback) {
  if (!e.is_object()) return fallback;
  const auto it = e.find(key);
  return it != e.end() && it->is_string() ? it->get<std::string>() : fallback;
}

LogFile read_log(const std::string& path) {
  LogFile log;
  log.name = fs::path(path).filename().string();
  std::ifstream f(path, std::ios::binary);
  ESYNC_CHECK_T(IoError, f.is_open(), "cannot open log ", path, ": ", std::strerror(errno));
  const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ESYNC_CHECK_T(IoError, !f.bad(), "cannot read log ", path, ": ", std::strerror(errno));

  // The writer emits each line, newline included, in one write(2): only the last line can be
  // partial, and only when the process died inside that write (or the disk filled up).
  std::size_t pos = 0, lineno = 0;
  while (pos < data.size()) {
    const std::size_t nl = data.find('\n', pos);
    const bool complete = nl != std::string::npos;
    const std::string_view line(data.data() + pos, (complete ? nl : data.size()) - pos);
    pos = complete ? nl + 1 : data.size();
    ++lineno;
    if (std::all_of(line.begin(), line.end(), [](unsigned char c) { return std::isspace(c); })) continue;
    json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded() && j.is_object()) {
      log.events.push_back(std::move(j));
    } else if (!complete) {
      log.warnings.push_back(log.name + ": last line cut short (" + std::to_string(line.size()) +
                             " bytes, no newline), skipped");
    } else {
      // Not something our writer produces; skipping it keeps the rest of the file usable.
      log.warnings.push_back(log.name + ": line " + std::to_string(lineno) +
                             " is not a JSON object, skipped");
    }
  }
  return log;
}

namespace {

// "worker-12.jsonl" -> {"worker", 12}; anything else -> nullopt (job.json, *.port, other files).
std::optional<std::pair<std::string, int>> role_rank(const std::string& name) {
  constexpr std::string_view ext = ".jsonl";
  if (name.size() <= ext.size() || name.compare(name.size() - ext.size(), ext.size(), ext) != 0)
    return std::nullopt;
  const std::string stem = name.substr(0, name.size() - ext.size());
  const auto dash = stem.rfind('-');
  if (dash == std::string::npos) return std::nullopt;
  const std::string digits = stem.substr(dash + 1);
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::nullopt;
  return std::make_pair(stem.substr(0, dash), std::stoi(digits));
}

std::string dir_label(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  if (ec) c = p.lexically_normal();
  if (!c.has_filename()) c = c.parent_path();  // "a/b/" names "b"
  return c.filename().string();
}

}  // namespace

RunLogs read_run(const std::string& dir) {
  std::error_code ec;
  ESYNC_CHECK_T(IoError, fs::is_directory(dir, ec), "log directory ", dir,
                " does not exist or is not a directory");
  RunLogs run;
  run.dir = dir;
  run.label = dir_label(dir);
  std::vector<std::pair<std::pair<std::string, int>, std::string>> found;
  try {
    for (const auto& de : fs::directory_iterator(dir)) {
      if (!de.is_regular_file()) continue;
      if (auto rr = role_rank(de.path().filename().string())) found.emplace_back(*rr, de.path().string());
    }
  } catch (const fs::filesystem_error& e) {
    ESYNC_THROW(IoError, "cannot list log directory ", dir, ": ", e.code().message());
  }
  std::sort(found.begin(), found.end());
  for (const auto& [rr, path] : found) {
    const auto& [role, rank] = rr;
    if (role == "worker")
      run.workers.emplace_back(rank, read_log(path));
    else if (role == "server")
      run.servers.emplace_back(rank, read_log(path));
    else if (role == "coordinator" && rank == 0)
      run.coordinator = read_log(path);
    else if (role == "launcher" && rank == 0)
      run.launcher = read_log(path);
  }
  ESYNC_CHECK_T(IoError, !run.workers.empty(), "log directory ", dir, " holds no worker-*.jsonl log");
  return run;
}

}  // namespace esync::summary_detail
