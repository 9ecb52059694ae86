// The typed job configuration: JSON in and out, defaults for missing keys, and refusals that
// name the setting.
#include <gtest/gtest.h>

#include "esync/error.hpp"
#include "esync/job_config.hpp"

using esync::JobConfig;
using nlohmann::json;

TEST(JobConfig, RoundTripsEverySetting) {
  JobConfig c;
  c.mode = "local-sgd", c.batch = 32, c.lr = 0.1, c.k_max = 7, c.policy = "deadline";
  c.slowdown = {1, 2, 4}, c.devices = {"cpu", "cuda:0"}, c.resume = {{"dir", "d"}, {"round", 3}};
  const JobConfig back = json(c).get<JobConfig>();
  EXPECT_EQ(json(back), json(c));
  EXPECT_EQ(back.k_max, 7);
  EXPECT_EQ(back.workers(), 2);
  EXPECT_DOUBLE_EQ(back.slowdown_of(2), 4.0);
  EXPECT_DOUBLE_EQ(back.slowdown_of(3), 1.0);  // a rank past the list runs at full speed
}

TEST(JobConfig, MissingKeysKeepTheirDefaults) {
  const auto c = json{{"mode", "ssgd"}, {"batch", 16}}.get<JobConfig>();
  const JobConfig d;
  EXPECT_EQ(c.mode, "ssgd");
  EXPECT_EQ(c.batch, 16);
  EXPECT_EQ(c.policy, d.policy);
  EXPECT_EQ(c.k_max, d.k_max);
  EXPECT_DOUBLE_EQ(c.lr, d.lr);
  EXPECT_EQ(c.weighting, "batch");
  EXPECT_TRUE(c.resume.is_null());
  EXPECT_EQ(c.capacity(3), 3);  // max_workers 0: the starting workers
}

TEST(JobConfig, UnknownKeyWrongTypeOrNotAnObjectIsAConfigError) {
  const auto message = [](const json& j) {
    try {
      (void)j.get<JobConfig>();
    } catch (const esync::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message({{"learning_rate", 0.1}}).find("'learning_rate' is not one esync knows"),
            std::string::npos);
  EXPECT_NE(message({{"batch", "big"}}).find("'batch'"), std::string::npos);
  EXPECT_NE(message(json::array({1, 2})).find("not a JSON object"), std::string::npos);
}
