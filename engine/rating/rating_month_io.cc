// meterd — engine/rating/rating_month_io.cc: a MonthToDate state as bytes and back
// (month_to_date.h, "Bytes"; docs/ledger.md, "Month-to-date state"), so that the billing clock
// can keep it with its watermark.
//
// Layout (little-endian; varints are LEB128, signed ones zigzag):
//   "MTD1"  magic and format version
//   u64     fingerprint of the catalog the state belongs to (0: an empty state, any catalog)
//   i64     month, i64 through
//   varint  groups; per group:
//     varint  account index;  varint + bytes  product id;  varint lines; per line:
//       varint  resource index + 1 (0: none);  zigzag  accrued amount
//       varint  runs (oldest first); per run: varint version number, varint128 raw quantity
// Indices are the tenancy's (positions in its sorted vectors): valid only for a catalog with the
// same fingerprint, which Restore checks before reading them.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>

#include "engine/rating/rating_internal.h"

namespace meterd::engine::rating {

namespace internal {
namespace {

// A 64-bit hash of bytes, 8 at a time (not cryptographic: it tells catalogs apart).
class Hasher {
 public:
  void U64(uint64_t v) {
    h_ ^= Mix(v + 0x9E3779B97F4A7C15ULL);
    h_ = (h_ << 27 | h_ >> 37) * 0x100000001B3ULL + 0x632BE59BD9B4E019ULL;
  }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void U128(unsigned __int128 v) {
    U64(static_cast<uint64_t>(v));
    U64(static_cast<uint64_t>(v >> 64));
  }
  void Str(std::string_view s) {
    U64(s.size());
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      U64(w);
    }
    if (i < s.size()) {
      uint64_t w = 0;
      std::memcpy(&w, s.data() + i, s.size() - i);
      U64(w);
    }
  }
  uint64_t value() const { return Mix(h_) | 1; }  // never 0 (0 marks an empty state)

 private:
  static uint64_t Mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ULL;
    x ^= x >> 33;
    return x;
  }
  uint64_t h_ = 0x84222325CBF29CE4ULL;
};

void PutVarint(std::string* out, uint64_t v) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}
void PutVarint128(std::string* out, unsigned __int128 v) {
  if (v <= UINT64_MAX) return PutVarint(out, static_cast<uint64_t>(v));  // the common case
  while (v >= 0x80) {
    out->push_back(static_cast<char>(static_cast<uint8_t>(v) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void PutFixed64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  bool Varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const uint8_t b = static_cast<uint8_t>(*p_++);
      r |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  bool Varint128(unsigned __int128* v) {
    unsigned __int128 r = 0;
    for (int shift = 0; shift < 128; shift += 7) {
      if (p_ == end_) return false;
      const uint8_t b = static_cast<uint8_t>(*p_++);
      r |= static_cast<unsigned __int128>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  bool Fixed64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= static_cast<uint64_t>(static_cast<uint8_t>(p_[i])) << (8 * i);
    p_ += 8;
    *v = r;
    return true;
  }
  bool Bytes(size_t n, std::string_view* s) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    *s = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  bool done() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

constexpr std::string_view kMagic = "MTD1";

}  // namespace

uint64_t CatalogFingerprint(const tenancy::Tenancy& t, const pricebook::PriceBook& book) {
  Hasher h;
  h.U64(t.accounts().size());
  for (const tenancy::Account& a : t.accounts()) h.Str(a.id);
  h.U64(t.projects().size());
  for (const tenancy::Project& p : t.projects()) {
    h.Str(p.id);
    h.Str(p.account);
  }
  h.U64(t.plans().size());
  for (const tenancy::Plan& p : t.plans()) {
    h.Str(p.id);
    h.Str(p.group);
  }
  h.U64(t.locations().size());
  for (const tenancy::Location& l : t.locations()) h.Str(l.id);
  h.U64(t.resources().size());
  for (const tenancy::Resource& r : t.resources()) {
    h.Str(r.id);
    h.Str(r.agent_id);
    h.U64(r.versions.size());
    for (const tenancy::ResourceVersion& v : r.versions) {
      h.I64(v.effective_from);
      h.Str(v.type);
      h.Str(v.project);
      h.Str(v.location);
      h.Str(v.plan);
      h.Str(v.storage_tier);
      h.U64(v.deleted ? 1 : 0);
    }
  }
  h.U64(book.versions().size());
  for (const pricebook::PriceBookVersion& v : book.versions()) {
    h.U64(v.version);
    h.I64(v.effective_from);
    h.U64(static_cast<uint64_t>(v.rounding));
    h.U64(v.products.size());
    for (const pricebook::Product& p : v.products) {
      h.Str(p.id);
      h.Str(p.metric);
      h.U64(static_cast<uint64_t>(p.kind));
      h.U64(p.state_mask);
      h.U64(static_cast<uint64_t>(p.model));
      h.I64(p.unit_price);
      h.U64(p.divisor);
      h.U128(p.package_size_raw);
      h.I64(p.package_price);
      h.U128(p.free_raw);
      h.U128(p.cap_raw);
      h.I64(p.minimum);
      h.U64(p.tiers.size());
      for (const pricebook::Tier& tier : p.tiers) {
        h.U128(tier.up_to_raw);
        h.I64(tier.unit_price);
      }
    }
  }
  return h.value();
}

}  // namespace internal

std::string MonthToDate::Serialize() const {
  const internal::MonthState& st = *state_;
  std::string out;
  out.reserve(64 + st.lines * 32 + st.groups.size() * 16);
  out.append(internal::kMagic);
  uint64_t fingerprint = 0;
  if (st.tenancy != nullptr && st.book != nullptr) {
    if (st.fingerprint == 0) st.fingerprint = internal::CatalogFingerprint(*st.tenancy, *st.book);
    fingerprint = st.fingerprint;
  }
  internal::PutFixed64(&out, fingerprint);
  internal::PutFixed64(&out, static_cast<uint64_t>(st.month));
  internal::PutFixed64(&out, static_cast<uint64_t>(st.through));
  // Product ids by ordinal (the state keys groups by them).
  std::vector<std::string_view> product_of(st.product_ord.size());
  for (const auto& [id, ord] : st.product_ord) product_of[ord] = id;
  std::vector<uint32_t> ord_of(st.groups.size(), internal::kNone);
  for (const auto& [key, g] : st.group_of) ord_of[g] = static_cast<uint32_t>(key & 0xFFFFFFFFu);
  internal::PutVarint(&out, st.groups.size());
  std::vector<const internal::MonthRun*> runs;
  for (size_t g = 0; g < st.groups.size(); ++g) {
    const internal::MonthGroup& sg = st.groups[g];
    internal::PutVarint(&out, sg.account);
    const std::string_view product = product_of[ord_of[g]];
    internal::PutVarint(&out, product.size());
    out.append(product);
    internal::PutVarint(&out, sg.lines.size());
    for (const internal::MonthLine& line : sg.lines) {
      internal::PutVarint(&out, line.resource == internal::kNone ? 0 : uint64_t{line.resource} + 1);
      internal::PutVarint(&out, internal::ZigZag(line.amount));
      runs.clear();
      for (uint32_t e = line.earlier; e != internal::kNone; e = sg.earlier[e].prev) {
        runs.push_back(&sg.earlier[e].run);
      }
      std::reverse(runs.begin(), runs.end());
      if (line.last.version != nullptr) runs.push_back(&line.last);
      internal::PutVarint(&out, runs.size());
      for (const internal::MonthRun* r : runs) {
        internal::PutVarint(&out, r->version->version);
        internal::PutVarint128(&out, r->quantity);
      }
    }
  }
  return out;
}

Status internal::RestoreMonthState(const internal::EngineData& d, std::string_view bytes,
                                   MonthToDate* state) {
  auto fail = [&](const std::string& why) {
    state->Clear();
    return Status::InvalidArgument("month-to-date state: " + why);
  };
  internal::Reader in(bytes);
  std::string_view magic;
  if (!in.Bytes(internal::kMagic.size(), &magic) || magic != internal::kMagic) {
    return fail("not a month-to-date state (bad magic)");
  }
  uint64_t fingerprint = 0, month = 0, through = 0, groups = 0;
  if (!in.Fixed64(&fingerprint) || !in.Fixed64(&month) || !in.Fixed64(&through) ||
      !in.Varint(&groups)) {
    return fail("truncated header");
  }
  const tenancy::Tenancy& t = d.tenancy();
  const pricebook::PriceBook& book = d.book();
  state->Reset(static_cast<int64_t>(month));
  internal::MonthState& st = *state->state();
  st.through = static_cast<int64_t>(through);
  if (static_cast<int64_t>(month) != pricebook::MonthStart(static_cast<int64_t>(month)) ||
      st.through < st.month || st.through > pricebook::NextMonthStart(st.month) ||
      st.through % 3600 != 0) {
    return fail("month or through out of range");
  }
  if (groups == 0 && fingerprint == 0) return in.done() ? Status::OK() : fail("trailing bytes");
  const uint64_t want = internal::CatalogFingerprint(t, book);
  if (fingerprint != want) return fail("of another catalog (its fingerprint differs)");
  st.tenancy = d.catalog->tenancy;
  st.book = d.catalog->price_book;
  st.fingerprint = want;
  st.groups.reserve(groups);
  for (uint64_t g = 0; g < groups; ++g) {
    uint64_t account = 0, id_len = 0, lines = 0;
    std::string_view product_id;
    if (!in.Varint(&account) || !in.Varint(&id_len) || !in.Bytes(id_len, &product_id) ||
        !in.Varint(&lines)) {
      return fail("truncated group");
    }
    if (account >= t.accounts().size()) return fail("account index out of range");
    internal::MonthGroup& sg = st.groups.emplace_back();
    sg.account = static_cast<uint32_t>(account);
    sg.lines.reserve(lines);
    std::string_view stable_id;  // the id as the catalog holds it (the state's maps view it)
    for (uint64_t l = 0; l < lines; ++l) {
      uint64_t resource = 0, amount = 0, runs = 0;
      if (!in.Varint(&resource) || !in.Varint(&amount) || !in.Varint(&runs)) {
        return fail("truncated line");
      }
      if (resource > t.resources().size()) return fail("resource index out of range");
      internal::MonthLine& line = sg.lines.emplace_back();
      line.resource = resource == 0 ? internal::kNone : static_cast<uint32_t>(resource - 1);
      if (l > 0 && sg.lines[l - 1].resource >= line.resource) return fail("lines out of order");
      line.amount = internal::UnZigZag(amount);
      uint32_t prev = internal::kNone;
      for (uint64_t r = 0; r < runs; ++r) {
        uint64_t number = 0;
        unsigned __int128 quantity = 0;
        if (!in.Varint(&number) || !in.Varint128(&quantity)) return fail("truncated run");
        const pricebook::PriceBookVersion* v =
            number > UINT32_MAX ? nullptr : book.FindVersion(static_cast<uint32_t>(number));
        const pricebook::Product* p = v ? v->FindProduct(product_id) : nullptr;
        if (p == nullptr || !p->is_usage()) return fail("unknown price book version or product");
        if (stable_id.empty()) stable_id = p->id;
        internal::MonthRun run{v, p, quantity};
        if (r + 1 < runs) {
          sg.earlier.push_back(internal::EarlierRun{run, prev});
          prev = static_cast<uint32_t>(sg.earlier.size() - 1);
        } else {
          line.last = run;
        }
      }
      line.earlier = prev;
      ++st.lines;
    }
    if (stable_id.empty()) return fail("a group without runs");
    const uint32_t ord =
        st.product_ord.try_emplace(stable_id, static_cast<uint32_t>(st.product_ord.size()))
            .first->second;
    const uint64_t key = (static_cast<uint64_t>(sg.account) << 32) | ord;
    if (!st.group_of.try_emplace(key, static_cast<uint32_t>(g)).second) {
      return fail("a group listed twice");
    }
  }
  if (!in.done()) return fail("trailing bytes");
  return Status::OK();
}

}  // namespace meterd::engine::rating
