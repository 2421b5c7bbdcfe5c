// meterd — net/meterctl/usage_format.cc
#include "net/meterctl/usage_format.h"

#include <algorithm>

namespace meterd::cli {

std::string FormatU128(unsigned __int128 v) {
  if (v == 0) return "0";
  std::string out;
  while (v > 0) {
    out.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string FormatQuotient(unsigned __int128 num, unsigned __int128 den, int decimals) {
  unsigned __int128 scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  // q = num * scale / den, half-even; split num to avoid overflowing num * scale.
  const unsigned __int128 whole = num / den;
  const unsigned __int128 rem = num % den;
  unsigned __int128 frac = rem * scale / den;  // rem < den; den * 10^18 fits for den < 2^68
  const unsigned __int128 frac_rem = rem * scale % den;
  unsigned __int128 w = whole;
  if (frac_rem * 2 > den || (frac_rem * 2 == den && (frac & 1))) {
    if (++frac == scale) {
      frac = 0;
      ++w;
    }
  }
  std::string out = FormatU128(w);
  if (decimals > 0) {
    std::string f = FormatU128(frac);
    out += "." + std::string(static_cast<size_t>(decimals) - f.size(), '0') + f;
  }
  return out;
}

GaugeUnit GaugeBillingUnit(const std::string& unit) {
  if (unit == "bytes") return GaugeUnit{"GiB·h", static_cast<unsigned __int128>(3600) << 30};
  return GaugeUnit{(unit.empty() ? std::string("unit") : unit) + "·h", 3600};
}

}  // namespace meterd::cli
