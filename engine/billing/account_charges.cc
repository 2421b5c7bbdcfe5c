// meterd — engine/billing/account_charges.cc
#include "engine/billing/account_charges.h"

#include <string>

namespace meterd::engine::billing {

rating::RatingRequest AccountsRequest(int64_t from, int64_t to, std::string_view account) {
  rating::RatingRequest req;
  req.from = from;
  req.to = to;
  req.scope = account.empty() ? rating::ScopeKind::kAll : rating::ScopeKind::kAccount;
  req.scope_id = std::string(account);
  req.group_by = rating::GroupBy::kAccount;
  return req;
}

ChargesByAccount SumByAccount(const rating::RatingResult& result) {
  ChargesByAccount out;
  for (const rating::ChargeLine& l : result.lines) {
    AccountCharges& c = out[std::string(l.account)];
    (l.subscription ? c.fees : c.usage) += l.amount;
    c.provisional = c.provisional || l.provisional;
  }
  return out;
}

}  // namespace meterd::engine::billing
