#pragma once
// The parameter-server rules' tests' reference side: random inputs, a double-precision copy of
// the weights to update by hand, and a tolerance check that names the first bad elements.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "esync/ps_rules.hpp"

namespace esync::test {

using ps::RuleConfig;
using ps::ShardRules;

using Ref = std::vector<double>;

inline std::vector<float> random_vec(std::size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline Ref to_ref(const std::vector<float>& v) { return Ref(v.begin(), v.end()); }

// Counts elements outside atol + rtol * |ref| and reports the first few.
inline void expect_close(const std::vector<float>& got, const Ref& ref, const std::string& what,
                         double tol = 1e-5) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  std::size_t bad = 0;
  std::ostringstream first;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(double(got[i]) - ref[i]);
    if (!(err <= tol + tol * std::abs(ref[i]))) {
      if (bad < 3) first << " [" << i << "] got " << got[i] << " want " << ref[i] << ";";
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ":" << first.str();
}

inline std::vector<float> weights_of(const ShardRules& r) { return *r.weights(); }

inline RuleConfig rule_cfg(const std::string& rule, int workers, const std::string& opt = "sgd",
                           float lr = 0.1f) {
  RuleConfig c;
  c.rule = rule;
  c.workers = workers;
  c.opt.kind = opt;
  c.opt.lr = lr;
  c.opt.momentum = 0.9f;
  c.opt.weight_decay = 0.0f;
  return c;
}

}  // namespace esync::test
