// The log schema's structs (esync/log_events.hpp): what a writer puts on a line is what the
// summariser reads back, and a damaged line reads as defaults instead of throwing.
#include <gtest/gtest.h>

#include "esync/log_events.hpp"

namespace logev = esync::logev;
using nlohmann::json;

TEST(LogEvents, SyncRoundTripsEveryKey) {
  logev::Sync s;
  s.round = 7, s.k_done = 3, s.k_assigned = 4, s.compute_s = 0.5, s.comm_s = 0.25, s.wait_s = 0.125;
  s.hidden_s = 0.0625, s.slowdown_s = 1.5, s.delay_s = 0.75, s.injected_s = 2.25;
  s.bytes_sent = 1 << 20, s.bytes_recv = 3 << 20, s.samples = 192, s.staleness = 2;
  const json j = s;
  EXPECT_EQ(j.size(), 14u);  // every key of the schema, nothing else
  EXPECT_TRUE(j.at("bytes_sent").is_number_integer());
  const auto back = logev::as<logev::Sync>(j);
  EXPECT_EQ(json(back), j);
  EXPECT_EQ(back.staleness, 2);
}

TEST(LogEvents, EmptyOptionalsAreLeftOutAndReadBackEmpty) {
  logev::Eval e;
  e.round = 3, e.loss = 0.5, e.acc = 0.75;
  const json j = e;
  EXPECT_TRUE(j.contains("acc"));
  EXPECT_FALSE(j.contains("gap"));
  EXPECT_FALSE(j.contains("rel_gap"));
  const auto back = logev::as<logev::Eval>(j);
  EXPECT_EQ(back.acc, 0.75);
  EXPECT_FALSE(back.rel_gap.has_value());
}

TEST(LogEvents, NestedSummaryRoundTrips) {
  logev::WorkerSummary sum;
  sum.rank = 1, sum.mode = "esync", sum.steps = 90, sum.samples_per_s = 1234.5;
  sum.final = {{"acc", 0.8}};
  const json j = logev::WorkerEnd{"ok", sum, ""};
  const auto back = logev::as<logev::WorkerEnd>(j);
  ASSERT_TRUE(back.summary.has_value());
  EXPECT_EQ(back.summary->steps, 90);
  EXPECT_EQ(back.summary->samples_per_s, 1234.5);
  EXPECT_FALSE(back.summary->train_wall_s.has_value());
  EXPECT_EQ(back.summary->final.at("acc"), 0.8);
}

TEST(LogEvents, WrongTypesAndMissingKeysReadAsDefaults) {
  // A hand-edited line: strings where numbers belong, a number where a string belongs, no k.
  const json j = {{"ev", "assign"}, {"rank", "two"}, {"round", 5}, {"step_s", "fast"}, {"deadline_s", 1.5}};
  const auto a = logev::as<logev::Assign>(j);
  EXPECT_EQ(a.rank, 0);
  EXPECT_EQ(a.round, 5);
  EXPECT_EQ(a.k, 0);
  EXPECT_FALSE(a.step_s.has_value());
  EXPECT_EQ(a.deadline_s, 1.5);
  const auto end = logev::as<logev::WorkerEnd>(json{{"status", 3}, {"summary", "cut"}});
  EXPECT_EQ(end.status, "");  // never mistaken for "ok"
  EXPECT_FALSE(end.summary.has_value());
  EXPECT_NO_THROW(logev::as<logev::Sync>(json::array({1, 2})));
}

TEST(LogEvents, TimeOfALine) {
  EXPECT_EQ(logev::time_of(json{{"t", 12.5}}), 12.5);
  EXPECT_FALSE(logev::time_of(json{{"t", "noon"}}).has_value());
  EXPECT_FALSE(logev::time_of(json::object()).has_value());
}
