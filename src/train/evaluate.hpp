#pragma once
#include <atomic>

#include "esync/log_events.hpp"
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

// Puts r into an "eval" event: loss, acc (classification), and on datasets with a known
// optimum f_star the gap F - f* and rel_gap (F - f*) / (F0 - f*), F0 the first evaluation's.
void fill_eval(logev::Eval& ev, const EvalResult& r, double f_star, double f0);

}  // namespace esync::train
