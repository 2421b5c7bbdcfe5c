// meterd — storage/rollup/rollup_merge.cc
#include "storage/rollup/rollup_merge.h"

#include <algorithm>

namespace meterd::storage::rollup {
namespace {

// A position in one input file. A block is decoded only when one of its rows is needed: a block
// holding one series that nothing else changes is copied as it is (WholeBlock, Skip).
class Cursor {
 public:
  explicit Cursor(const RollupFileReader* reader) : reader_(reader) {}

  Status Start() {
    done_ = reader_->blocks().empty();
    return Status::OK();
  }
  bool done() const { return done_; }
  uint64_t series() const {
    return loaded_ ? block_.series.at(row_) : reader_->blocks()[index_].first_series;
  }
  // The current block, when the cursor stands at its first row, it is not decoded and it holds
  // one series only; else nullptr.
  const RollupBlockInfo* WholeBlock() const {
    if (done_ || loaded_) return nullptr;
    const RollupBlockInfo& b = reader_->blocks()[index_];
    return b.first_series == b.last_series ? &b : nullptr;
  }
  Result<std::string_view> Raw() const { return reader_->RawBlock(index_); }
  // Moves past the current block without decoding it. REQUIRES: WholeBlock() != nullptr.
  void Skip() {
    ++index_;
    done_ = index_ >= reader_->blocks().size();
  }
  // REQUIRES: Load() since the cursor moved to this block.
  void Row(RollupRow* out) const {
    out->series_id = block_.series.at(row_);
    out->hour = static_cast<int64_t>(block_.hour.at(row_));
    for (size_t c = 0; c < kRollupColumns; ++c) out->col[c] = block_.col[c].at(row_);
  }
  Status Load() {
    if (loaded_) return Status::OK();
    row_ = 0;
    loaded_ = true;
    return reader_->ReadBlock(index_, kAllColumns, &block_);
  }
  Status Advance() {
    if (++row_ < block_.rows) return Status::OK();
    loaded_ = false;
    Skip();
    return Status::OK();
  }

 private:
  const RollupFileReader* reader_;
  size_t index_ = 0;
  size_t row_ = 0;
  bool loaded_ = false;
  bool done_ = false;
  RollupBlock block_;
};

}  // namespace

Status MergeInto(const std::vector<std::shared_ptr<const RollupFileReader>>& inputs,
                 std::span<const RollupRow> overrides, RollupFileWriter* writer) {
  std::vector<Cursor> cursors;
  cursors.reserve(inputs.size());
  for (const auto& in : inputs) {
    cursors.emplace_back(in.get());
    METERD_RETURN_IF_ERROR(cursors.back().Start());
  }
  std::vector<RollupRow> run;  // one series' rows from every input
  std::vector<RollupRow> merged;
  size_t next_override = 0;  // overrides[next_override..] are of series not yet written
  const auto by_hour = [](const RollupRow& a, const RollupRow& b) { return a.hour < b.hour; };
  // A linear scan for the smallest series costs O(inputs) a series, well under the cost of
  // decoding and re-encoding the series' rows for the input counts a month has (<= 745).
  for (;;) {
    bool any = false;
    uint64_t s = 0;
    for (const Cursor& c : cursors) {
      if (!c.done() && (!any || c.series() < s)) {
        s = c.series();
        any = true;
      }
    }
    // A series only the overrides have comes first when it sorts before every input's.
    if (next_override < overrides.size() && (!any || overrides[next_override].series_id < s)) {
      s = overrides[next_override].series_id;
      any = true;
    }
    if (!any) break;
    size_t o_end = next_override;
    while (o_end < overrides.size() && overrides[o_end].series_id == s) ++o_end;
    // A series of one input that no override touches: its whole blocks are copied as encoded
    // (a fold of imported rows into a large month then costs a copy of the month's bytes, not a
    // decoding and re-encoding of all its rows). What is left of the series is merged below.
    if (o_end == next_override) {
      Cursor* only = nullptr;
      size_t holders = 0;
      for (Cursor& c : cursors) {
        if (!c.done() && c.series() == s) {
          only = &c;
          ++holders;
        }
      }
      if (holders == 1 && only->WholeBlock() != nullptr) {
        while (const RollupBlockInfo* b = only->WholeBlock()) {
          if (b->first_series != s) break;
          METERD_ASSIGN_OR_RETURN(const std::string_view raw, only->Raw());
          METERD_RETURN_IF_ERROR(writer->AddEncodedBlock(*b, raw));
          only->Skip();
        }
        continue;
      }
    }
    run.clear();
    for (Cursor& c : cursors) {
      while (!c.done() && c.series() == s) {
        METERD_RETURN_IF_ERROR(c.Load());
        c.Row(&run.emplace_back());
        METERD_RETURN_IF_ERROR(c.Advance());
      }
    }
    if (!std::is_sorted(run.begin(), run.end(), by_hour)) {
      std::sort(run.begin(), run.end(), by_hour);
    }
    if (o_end > next_override) {
      // Two sorted runs of hours: an override replaces the input row of its hour.
      merged.clear();
      size_t i = 0;
      for (size_t o = next_override; o < o_end; ++o) {
        while (i < run.size() && run[i].hour < overrides[o].hour) merged.push_back(run[i++]);
        if (i < run.size() && run[i].hour == overrides[o].hour) ++i;
        merged.push_back(overrides[o]);
      }
      merged.insert(merged.end(), run.begin() + static_cast<ptrdiff_t>(i), run.end());
      run.swap(merged);
      next_override = o_end;
    }
    // The writer rejects a duplicate (series, hour), so overlapping inputs fail the merge.
    METERD_RETURN_IF_ERROR(writer->Add(run.data(), run.size()));
  }
  return Status::OK();
}

}  // namespace meterd::storage::rollup
