// async (ASGD). Every push is applied on arrival, whatever version it was computed on:
//     w = optimiser step(w, g_i)
// Its staleness tau (versions applied since the worker's pull) is only logged.
#include "update_rule.hpp"

namespace esync::ps {

namespace {
class Async final : public UpdateRule {};
}  // namespace

std::unique_ptr<UpdateRule> make_async(const RuleConfig&, std::size_t) { return std::make_unique<Async>(); }

}  // namespace esync::ps
