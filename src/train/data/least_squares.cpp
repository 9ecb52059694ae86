// Synthetic least squares (seed 000): A [n, d], x* ~ N(0, 1), b = A x* + 0.1 eps, objective
// F(x) = 1/2 mean((A x - b)^2). matrix "uniform": A ~ U[0,1)/sqrt(d), as the seed (its mean
// component makes A^T A ill-conditioned, so SGD converges slowly); "normal": A ~ N(0, 1),
// well conditioned (A^T A / n close to I), for convergence tests.
// F* is computed in double precision from the normal equations (A^T A) x = A^T b.
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "esync/error.hpp"
#include "train/data/dataset.hpp"

namespace esync::train {

Dataset make_least_squares(std::int64_t n, std::int64_t d, const std::string& matrix, std::uint64_t seed) {
  ESYNC_CHECK_T(ConfigError, n > 0 && d > 0, "least squares needs n > 0 and d > 0");
  auto gen = at::detail::createCPUGenerator(seed);
  torch::Tensor a;
  if (matrix == "uniform")
    a = at::rand({n, d}, gen) / std::sqrt(double(d));
  else if (matrix == "normal")
    a = at::randn({n, d}, gen);
  else
    ESYNC_THROW(ConfigError, "unknown --ls-matrix '", matrix, "' (expected uniform or normal)");
  const auto x_true = at::randn({d}, gen);
  const auto b = a.mv(x_true) + 0.1 * at::randn({n}, gen);

  const auto ad = a.to(torch::kDouble), bd = b.to(torch::kDouble);
  const auto x_opt = at::linalg_solve(ad.t().mm(ad), ad.t().mv(bd), /*left=*/true);
  const double f_star = 0.5 * (ad.mv(x_opt) - bd).pow(2).mean().item<double>();

  Dataset ds;
  ds.name = "least-squares";
  ds.train = {a, b};
  ds.test = {a, b};  // the objective is measured on the whole set
  ds.sample_shape = {d};
  ds.f_star = f_star;
  return ds;
}

}  // namespace esync::train
