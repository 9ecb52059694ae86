// linreg: y = <x, w>, no bias, w starting at 0 (seed 000 starts SGD from x = 0).
#include "train/models/net.hpp"

namespace esync::train {
namespace {

struct LinReg : Net {
  explicit LinReg(std::int64_t d) { w = register_parameter("w", torch::zeros({d})); }
  torch::Tensor forward(torch::Tensor x) override { return x.mv(w); }
  torch::Tensor w;
};

}  // namespace

std::shared_ptr<Net> make_linreg(std::int64_t in_features) { return std::make_shared<LinReg>(in_features); }

}  // namespace esync::train
