#pragma once
#include "train/data/dataset.hpp"
#include "train/models/net.hpp"

namespace esync::train {

struct EvalResult {
  double loss = 0;   // mean loss over the split (for least squares: F(x))
  double acc = -1;   // top-1 accuracy; -1 for regression
};

// Evaluation mode, no gradients, in batches; restores the training mode afterwards.
EvalResult evaluate(Net& net, const Split& split, std::int64_t classes, std::int64_t batch = 1000);

}  // namespace esync::train
