// meterd — engine/billing/account_charges.h
//
// What a UsageRater does with the rating engine, written once for every rater (the server's
// and meter-bench's): the request that rates a window per account, and the sum of a rating's
// lines per account (subscription lines are fees, the rest usage).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/billing/usage_rater.h"
#include "engine/rating/rating_engine.h"

namespace meterd::engine::billing {

// Rates the whole hours [from, to) of one account (`account` non-empty) or of every account,
// with totals per account.
rating::RatingRequest AccountsRequest(int64_t from, int64_t to, std::string_view account);

// The lines of `result` summed per account.
ChargesByAccount SumByAccount(const rating::RatingResult& result);

}  // namespace meterd::engine::billing
