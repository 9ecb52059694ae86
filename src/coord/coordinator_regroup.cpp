// The state server's side of an allreduce group re-forming after a lost member
// (train/regroup.hpp). Every survivor writes "regroup/<g>/<rank>" = {"round", "seen"} (the last
// round it completed and the samples the job had seen then). Once every worker the state server
// counts as live has written one, the generation closes: "regroup/<g>" = the members and their
// reports, one answer that every survivor reads. A worker declared lost while the others wait
// is not waited for (a second loss during the recovery), and one lost after it wrote is left
// out: the answer names only workers alive when it was given. A restarted worker that took its
// rank back is waited for once it reported; a report of its dead predecessor does not count.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string_view>

#include "coordinator_impl.hpp"
#include "esync/error.hpp"

namespace esync::coord {
namespace {

// "regroup/<g>/<rank>" -> (g, rank); nothing for any other key ("regroup/<g>" is the answer).
std::optional<std::pair<std::string, int>> parse_regroup_key(const std::string& key) {
  constexpr std::string_view head = "regroup/";
  if (key.rfind(head, 0) != 0) return std::nullopt;
  const auto slash = key.find('/', head.size());
  if (slash == std::string::npos) return std::nullopt;
  const std::string gen = key.substr(head.size(), slash - head.size()), rank = key.substr(slash + 1);
  const auto digits = [](const std::string& s) {
    return !s.empty() && s.size() < 10 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  ESYNC_CHECK_T(ProtocolError, digits(gen) && digits(rank), "bad regroup key '", key, "'");
  return std::make_pair(gen, std::stoi(rank));
}

}  // namespace

void Coordinator::Impl::on_regroup_key(const std::string& key, std::uint32_t sender) {
  const auto parsed = parse_regroup_key(key);
  if (!parsed) return;
  ESYNC_CHECK_T(ProtocolError, parsed->second == static_cast<int>(sender), "rank ", sender,
                " wrote another rank's regroup key '", key, "'");
  const json report = json::parse(kv[key]);  // a malformed report is a malformed message
  ESYNC_CHECK_T(ProtocolError, report.is_object() && report.contains("round") && report.contains("seen"),
                "regroup report without round and seen: ", kv[key]);
  if (members[sender].rejoined && !members[sender].joining) {
    members[sender].joining = true;
    log.write(logev::CoordinatorRejoin{static_cast<int>(sender), std::stoll(parsed->first)});
  }
  // A generation answered stays answered: a late report (a newcomer that was not ready) reads the
  // answer, finds itself missing and reports to the next one.
  if (kv.count("regroup/" + parsed->first)) return;
  regroups.insert(parsed->first);
  close_regroups();
}

void Coordinator::Impl::close_regroups() {
  for (auto it = regroups.begin(); it != regroups.end();) {
    const std::string& gen = *it;
    json group = json::array();
    bool complete = true;
    for (std::size_t r = 0; r < members.size(); ++r) {
      const auto& mem = members[r];
      // Not waited for: the lost, the finished, and a restarted worker still starting (it reports
      // when ready, and the generation after that one admits it).
      if (mem.identity.empty() || !mem.alive || mem.done || (mem.rejoined && !mem.joining)) continue;
      const auto report = kv.find("regroup/" + gen + "/" + std::to_string(r));
      if (report == kv.end()) {
        complete = false;
        break;
      }
      json m = json::parse(report->second);
      m["rank"] = r;
      group.push_back(std::move(m));
    }
    if (!complete || group.empty()) {
      ++it;
      continue;
    }
    for (const auto& m : group) {  // admitted
      auto& mem = members[m.at("rank").get<std::size_t>()];
      mem.rejoined = mem.joining = false;
    }
    regroups_closed = std::max<std::int64_t>(regroups_closed, std::stoll(gen));
    const std::string answer = "regroup/" + gen;
    kv[answer] = json{{"members", group}}.dump();
    std::fprintf(stderr, "coordinator: the allreduce group re-forms (generation %s) with %zu workers\n",
                 gen.c_str(), group.size());
    log.write(logev::CoordinatorRegroup{std::stoll(gen), static_cast<std::int64_t>(group.size())});
    answer_waiters(answer);
    it = regroups.erase(it);
  }
}

std::int64_t Coordinator::Impl::joining_generation() const {
  const bool any =
      std::any_of(members.begin(), members.end(), [](const Member& m) { return m.joining && m.alive; });
  return any ? regroups_closed + 1 : 0;
}

}  // namespace esync::coord
