#pragma once
#include <atomic>

#include "train/data/dataset.hpp"
#include "train/models/net.hpp"

namespace esync::train {

struct EvalResult {
  double loss = 0;       // mean loss over the split (for least squares: F(x))
  double acc = -1;       // top-1 accuracy; -1 for regression
  bool complete = true;  // false: `cancel` was set before the last batch (loss and acc unset)
};

// Evaluation mode, no gradients, in batches; restores the training mode afterwards. cancel:
// read between batches; once true the evaluation stops and returns complete = false.
EvalResult evaluate(Net& net, const Split& split, std::int64_t classes, std::int64_t batch = 1000,
                    const std::atomic<bool>* cancel = nullptr);

}  // namespace esync::train
