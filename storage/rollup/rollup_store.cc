// meterd — storage/rollup/rollup_store.cc: the live set of rollup files under <dir>/rollup and
// its ROLLUP manifest (docs/format-rollup.md, "Store protocol").
//
// Locking: seal_mu_ serialises SealHour calls and merge_mu_ MergeParts calls, so the file
// writing of a seal or a merge runs without mu_; mu_ guards the published state and is held
// only to pick inputs, write the (small) manifest and swap the state in. A seal and a merge may
// run at once: a seal only adds a part of an hour >= sealed_before, which no merge input holds.
//
// A replaced file is deleted when the last reader of it dies: the store's readers carry a
// deleter that removes the file once the file is marked obsolete (after the manifest that drops
// it is durable), so a RollupSnapshot keeps its files undeleted while it lives.
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "storage/rollup.h"
#include "storage/rollup/rollup_format.h"
#include "storage/rollup/rollup_manifest.h"
#include "storage/rollup/rollup_merge.h"

namespace meterd::storage {
namespace fmt = rollup_format;
using rollup::ManifestFile;

namespace {

struct LiveFile {
  ManifestFile entry;
  std::shared_ptr<const RollupFileReader> reader;  // null: damaged, listed but never served
  std::shared_ptr<std::atomic<bool>> obsolete;     // set once a manifest no longer lists it
};

bool FileOrder(const LiveFile& a, const LiveFile& b) {
  // Months (kind 1) before parts (kind 2), each by key: the order RollupSnapshot promises.
  return a.entry.kind != b.entry.kind ? a.entry.kind < b.entry.kind : a.entry.key < b.entry.key;
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A reader whose file is removed when the reader dies after *obsolete was set.
std::shared_ptr<const RollupFileReader> Share(Env* env, std::unique_ptr<RollupFileReader> reader,
                                              std::shared_ptr<std::atomic<bool>> obsolete) {
  const std::string path = reader->path();
  return std::shared_ptr<const RollupFileReader>(
      reader.release(), [env, path, obsolete](const RollupFileReader* r) {
        delete r;
        if (obsolete->load())
          (void)env->RemoveFile(path);  // a leftover is removed at the next Open
      });
}

// Checks that an opened file is the one its manifest entry describes.
Status CheckMatches(const RollupFileReader& r, const ManifestFile& f) {
  const RollupFileInfo& i = r.info();
  bool ok = i.file_id == f.file_id && i.rows == f.rows && i.file_bytes == f.file_bytes;
  if (ok && i.rows > 0) {
    ok = f.kind == fmt::kKindPart
             ? i.min_hour == f.key && i.max_hour == f.key
             : i.min_hour >= f.key && i.max_hour < rollup::NextMonthStart(f.key);
  }
  if (!ok) {
    return Status::Corruption("rollup file " + r.path() + " (id " + std::to_string(i.file_id) +
                              ", " + std::to_string(i.rows) +
                              " rows) is not the file ROLLUP lists (id " +
                              std::to_string(f.file_id) + ", " + std::to_string(f.rows) + " rows)");
  }
  return Status::OK();
}

}  // namespace

struct RollupStore::Impl {
  std::string dir;  // <dir>/rollup
  Env* env = nullptr;
  std::mutex seal_mu;
  std::mutex merge_mu;
  mutable std::mutex mu;
  rollup::Manifest manifest;    // GUARDED_BY(mu): as last written
  uint64_t next_file_id = 1;    // GUARDED_BY(mu): >= manifest.next_file_id
  std::vector<LiveFile> files;  // GUARDED_BY(mu): sorted by FileOrder
  std::vector<std::shared_ptr<const RollupFileReader>> served;  // GUARDED_BY(mu)
  Status sticky;             // GUARDED_BY(mu): a failed manifest write; the disk state is unknown
  uint64_t merges = 0;       // GUARDED_BY(mu)
  uint64_t folds = 0;        // GUARDED_BY(mu)
  uint64_t folded_rows = 0;  // GUARDED_BY(mu)
  std::atomic<uint64_t> damaged_blocks{0};

  std::string PathOf(const ManifestFile& f) const { return dir + "/" + rollup::FileName(f); }
  uint64_t revision_log = 0;  // GUARDED_BY(mu): written with every manifest
  // REQUIRES: mu held. Writes ROLLUP listing `next` and installs it.
  Status Publish(std::vector<LiveFile> next, int64_t sealed_before);
  // Writes a new file (to .tmp, synced, renamed, directory synced) and opens it.
  Result<LiveFile> WriteNewFile(ManifestFile entry, RollupLayout layout,
                                const std::function<Status(RollupFileWriter*)>& fill);
};

Status RollupStore::Impl::Publish(std::vector<LiveFile> next, int64_t sealed_before) {
  if (!sticky.ok()) return sticky;
  std::sort(next.begin(), next.end(), FileOrder);
  rollup::Manifest m;
  m.generation = manifest.generation + 1;
  m.next_file_id = next_file_id;
  m.sealed_before = sealed_before;
  m.revision_log = revision_log;
  for (const LiveFile& f : next) m.files.push_back(f.entry);
  const std::string path = dir + "/" + fmt::kManifestName;
  const std::string encoded = rollup::EncodeRollupManifest(m);
  Status st = env->WriteFileAtomic(path, encoded);
  std::string on_disk;
  if (!st.ok() && st.IsNoSpace() && env->ReadWholeFile(path, &on_disk).ok() && on_disk != encoded) {
    // The disk filled up before the rename took place (a failed rename changes nothing
    // either): the old manifest is still the one on disk, so the change is simply tried again
    // later (the rollup clock's next tick) instead of making the store read-only.
    return st.NoSpaceAsExhausted();
  }
  if (!st.ok()) {
    // The rename may or may not have happened: refuse further changes until reopened.
    sticky = st.WithContext("rollup: manifest write failed; store is read-only until reopened");
    return sticky;
  }
  manifest = std::move(m);
  files = std::move(next);
  served.clear();
  for (const LiveFile& f : files) {
    if (f.reader) served.push_back(f.reader);
  }
  return Status::OK();
}

Result<LiveFile> RollupStore::Impl::WriteNewFile(
    ManifestFile entry, RollupLayout layout, const std::function<Status(RollupFileWriter*)>& fill) {
  const std::string path = PathOf(entry);
  const std::string tmp = path + ".tmp";
  Status st;
  RollupFileInfo info;
  {
    auto writer = RollupFileWriter::Create(tmp, entry.file_id, layout, IoBackend::kAuto, env);
    if (!writer.ok()) return writer.status();
    st = fill(writer->get());
    if (st.ok()) {
      auto done = (*writer)->Finish();
      if (done.ok()) info = *done;
      if (!done.ok()) st = done.status();
    }
  }
  if (st.ok()) st = env->RenameFile(tmp, path);
  if (!st.ok()) {
    (void)env->RemoveFile(tmp);
    return st;
  }
  METERD_RETURN_IF_ERROR(env->SyncDir(dir));  // the name is durable before any manifest lists it
  entry.rows = info.rows;
  entry.file_bytes = info.file_bytes;
  METERD_ASSIGN_OR_RETURN(auto reader, RollupFileReader::Open(path, env));  // verifies it
  METERD_RETURN_IF_ERROR(CheckMatches(*reader, entry));
  auto obsolete = std::make_shared<std::atomic<bool>>(false);
  return LiveFile{entry, Share(env, std::move(reader), obsolete), obsolete};
}

RollupStore::RollupStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RollupStore::~RollupStore() = default;

Result<std::unique_ptr<RollupStore>> RollupStore::Open(const std::string& dir,
                                                       std::vector<std::string>* damage, Env* env) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir + "/rollup";
  impl->env = env;
  METERD_RETURN_IF_ERROR(env->CreateDirIfMissing(impl->dir));
  METERD_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(impl->dir));
  const std::string manifest_path = impl->dir + "/" + fmt::kManifestName;
  if (!env->FileExists(manifest_path)) {
    // A store writes ROLLUP when it is created, so data files without one mean the manifest was
    // lost, not a crash: refuse rather than delete billing data as leftovers.
    for (const std::string& name : names) {
      if (EndsWith(name, ".mrp") || EndsWith(name, ".mru")) {
        return Status::Corruption("rollup: " + manifest_path + " is missing but " + impl->dir +
                                  " holds rollup files (" + name +
                                  ", ...); refusing to delete them");
      }
    }
    impl->manifest.generation = 1;
    METERD_RETURN_IF_ERROR(
        env->WriteFileAtomic(manifest_path, rollup::EncodeRollupManifest(impl->manifest)));
  } else {
    std::string data;
    METERD_RETURN_IF_ERROR(env->ReadWholeFile(manifest_path, &data));
    auto m = rollup::DecodeRollupManifest(data);
    if (!m.ok()) return m.status().WithContext(manifest_path);
    impl->manifest = std::move(m).value();
  }
  impl->next_file_id = impl->manifest.next_file_id;
  impl->revision_log = impl->manifest.revision_log;
  std::set<std::string> listed;
  for (const ManifestFile& f : impl->manifest.files) {
    const std::string path = impl->PathOf(f);
    listed.insert(rollup::FileName(f));
    LiveFile live{f, nullptr, std::make_shared<std::atomic<bool>>(false)};
    auto reader = RollupFileReader::Open(path, env);
    Status st = reader.ok() ? CheckMatches(**reader, f) : reader.status();
    if (st.ok()) {
      live.reader = Share(env, std::move(reader).value(), live.obsolete);
    } else if (damage != nullptr) {
      damage->push_back("rollup: " + path + " is damaged and not served: " + st.ToString());
    }
    impl->files.push_back(std::move(live));
  }
  std::sort(impl->files.begin(), impl->files.end(), FileOrder);
  for (const LiveFile& f : impl->files) {
    if (f.reader) impl->served.push_back(f.reader);
  }
  // Crash leftovers: files written but never listed (or no longer listed), and temporaries.
  bool removed = false;
  for (const std::string& name : names) {
    if (name == fmt::kManifestName || listed.count(name) != 0) continue;
    if (EndsWith(name, ".tmp") || EndsWith(name, ".mrp") || EndsWith(name, ".mru")) {
      METERD_RETURN_IF_ERROR(env->RemoveFile(impl->dir + "/" + name));
      removed = true;
    }
  }
  if (removed) METERD_RETURN_IF_ERROR(env->SyncDir(impl->dir));
  return std::unique_ptr<RollupStore>(new RollupStore(std::move(impl)));
}

int64_t RollupStore::sealed_before() const {
  std::lock_guard lock(impl_->mu);
  return impl_->manifest.sealed_before;
}

Status RollupStore::SealHour(int64_t hour, const std::vector<RollupRow>& rows) {
  Impl& s = *impl_;
  std::lock_guard seal(s.seal_mu);
  ManifestFile entry;
  {
    std::lock_guard lock(s.mu);
    METERD_RETURN_IF_ERROR(s.sticky);
    if (hour < 0 || hour % kSecondsPerHour != 0) {
      return Status::InvalidArgument("rollup: SealHour(" + std::to_string(hour) +
                                     "): not a non-negative multiple of 3600");
    }
    if (hour < s.manifest.sealed_before) {
      return Status::InvalidArgument("rollup: hour " + std::to_string(hour) +
                                     " is already sealed (sealed before " +
                                     std::to_string(s.manifest.sealed_before) + ")");
    }
    if (!rows.empty()) entry.file_id = s.next_file_id++;
  }
  for (const RollupRow& r : rows) {
    if (r.hour != hour) {
      return Status::InvalidArgument("rollup: SealHour(" + std::to_string(hour) +
                                     ") given a row of hour " + std::to_string(r.hour));
    }
  }
  std::optional<LiveFile> part;
  if (!rows.empty()) {  // an empty hour writes no file: the watermark alone records it
    entry.kind = fmt::kKindPart;
    entry.key = hour;
    auto written = s.WriteNewFile(entry, RollupLayout::kPacked, [&rows](RollupFileWriter* w) {
      return w->Add(rows.data(), rows.size());
    });
    // A full disk seals nothing and is ResourceExhausted: the rollup clock seals the hour
    // again at its next tick.
    if (!written.ok()) return written.status().NoSpaceAsExhausted();
    part = std::move(written).value();
  }
  std::lock_guard lock(s.mu);
  std::vector<LiveFile> next = s.files;
  if (part) next.push_back(std::move(*part));
  return s.Publish(std::move(next), hour + kSecondsPerHour);
}

Status RollupStore::MergeParts(size_t min_parts) {
  Impl& s = *impl_;
  std::lock_guard merge(s.merge_mu);
  struct Plan {
    std::vector<LiveFile> inputs;  // the month file (if any), then the parts by hour
    ManifestFile out;
  };
  std::vector<Plan> plans;
  {
    std::lock_guard lock(s.mu);
    METERD_RETURN_IF_ERROR(s.sticky);
    std::map<int64_t, std::vector<const LiveFile*>> parts;
    std::map<int64_t, const LiveFile*> months;
    for (const LiveFile& f : s.files) {
      if (f.entry.kind == fmt::kKindMonth) months[f.entry.key] = &f;
      if (f.entry.kind == fmt::kKindPart) parts[rollup::MonthStart(f.entry.key)].push_back(&f);
    }
    for (const auto& [month, month_parts] : parts) {
      const bool sealed = s.manifest.sealed_before >= rollup::NextMonthStart(month);
      if (month_parts.size() < min_parts && !sealed) continue;
      Plan plan;
      const auto m = months.find(month);
      if (m != months.end()) plan.inputs.push_back(*m->second);
      for (const LiveFile* p : month_parts) plan.inputs.push_back(*p);  // by hour (files sorted)
      // A damaged input would be lost by a merge: leave the month as it is (reported at Open).
      if (std::any_of(plan.inputs.begin(), plan.inputs.end(),
                      [](const LiveFile& f) { return f.reader == nullptr; })) {
        continue;
      }
      plan.out.file_id = s.next_file_id++;
      plan.out.kind = fmt::kKindMonth;
      plan.out.key = month;
      plan.out.generation = m != months.end() ? m->second->entry.generation + 1 : 1;
      plans.push_back(std::move(plan));
    }
  }
  for (Plan& plan : plans) {
    std::vector<std::shared_ptr<const RollupFileReader>> readers;
    for (const LiveFile& f : plan.inputs) readers.push_back(f.reader);
    auto merged = s.WriteNewFile(
        plan.out, RollupLayout::kPerSeries,
        [&readers](RollupFileWriter* w) { return rollup::MergeInto(readers, {}, w); });
    if (!merged.ok()) {
      if (merged.status().IsCorruption()) CountDamagedBlock();
      return merged.status().WithContext("rollup: merging month " +
                                         std::to_string(rollup::MonthNumber(plan.out.key)));
    }
    std::lock_guard lock(s.mu);
    std::set<uint64_t> replaced;
    for (const LiveFile& f : plan.inputs) replaced.insert(f.entry.file_id);
    std::vector<LiveFile> next;
    for (const LiveFile& f : s.files) {
      if (replaced.count(f.entry.file_id) == 0) next.push_back(f);
    }
    next.push_back(std::move(merged).value());
    METERD_RETURN_IF_ERROR(s.Publish(std::move(next), s.manifest.sealed_before));
    ++s.merges;
    // Durable: the replaced files go when their last reader (a snapshot, or `plan`) dies.
    for (const LiveFile& f : plan.inputs) f.obsolete->store(true);
  }
  return Status::OK();
}

uint64_t RollupStore::revision_log() const {
  std::lock_guard lock(impl_->mu);
  return impl_->manifest.revision_log;
}

bool RollupStore::CanFold(int64_t month) const {
  std::lock_guard lock(impl_->mu);
  for (const LiveFile& f : impl_->files) {
    if (f.reader == nullptr && rollup::MonthStart(f.entry.key) == month) return false;
  }
  return impl_->sticky.ok();
}

Status RollupStore::FoldRevisions(std::span<const RollupRow> rows, uint64_t revision_log,
                                  int64_t sealed_before) {
  Impl& s = *impl_;
  std::lock_guard merge(s.merge_mu);  // no MergeParts (or other fold) picks the same inputs
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].hour % kSecondsPerHour != 0 || rows[i].hour < 0 ||
        (i > 0 &&
         (rows[i - 1].series_id > rows[i].series_id ||
          (rows[i - 1].series_id == rows[i].series_id && rows[i - 1].hour >= rows[i].hour)))) {
      return Status::InvalidArgument(
          "rollup: FoldRevisions needs unique rows sorted by (series, hour) on the hour");
    }
  }
  // The rows of each month, in (series, hour) order: the caller's rows themselves when they are
  // of one month (an import's usually are), else a copy per month.
  std::map<int64_t, std::vector<RollupRow>> copies;
  std::map<int64_t, std::span<const RollupRow>> by_month;
  if (!rows.empty()) {
    const int64_t first = rollup::MonthStart(rows.front().hour);
    const bool one_month = std::all_of(rows.begin(), rows.end(), [first](const RollupRow& r) {
      return rollup::MonthStart(r.hour) == first;
    });
    if (one_month) {
      by_month[first] = rows;
    } else {
      for (const RollupRow& r : rows) copies[rollup::MonthStart(r.hour)].push_back(r);
      for (const auto& [month, list] : copies) by_month[month] = list;
    }
  }
  struct Plan {
    std::vector<LiveFile> inputs;  // the month file (if any), then the parts by hour
    ManifestFile out;
    std::span<const RollupRow> rows;
  };
  std::vector<Plan> plans;
  int64_t new_sealed = 0;
  {
    std::lock_guard lock(s.mu);
    METERD_RETURN_IF_ERROR(s.sticky);
    if (sealed_before < 0 || sealed_before % kSecondsPerHour != 0) {
      return Status::InvalidArgument("rollup: FoldRevisions: sealed_before " +
                                     std::to_string(sealed_before) + " is not on the hour");
    }
    new_sealed = std::max(sealed_before, s.manifest.sealed_before);
    if (revision_log < s.revision_log) {
      return Status::InvalidArgument("rollup: revision log " + std::to_string(revision_log) +
                                     " is older than the folded " + std::to_string(s.revision_log));
    }
    for (const auto& [month, month_rows] : by_month) {
      // Rows are in (series, hour) order: the month's latest hour may be any series'.
      int64_t latest = INT64_MIN;
      for (const RollupRow& r : month_rows) latest = std::max(latest, r.hour);
      if (latest >= new_sealed) {
        return Status::InvalidArgument("rollup: a revision of hour " + std::to_string(latest) +
                                       ", which is not sealed");
      }
      Plan plan;
      plan.rows = month_rows;
      uint32_t generation = 0;
      for (const LiveFile& f : s.files) {  // months first, then parts by hour
        if (rollup::MonthStart(f.entry.key) != month) continue;
        if (f.reader == nullptr) {
          return Status::Corruption("rollup: month " + std::to_string(rollup::MonthNumber(month)) +
                                    " has a damaged file (" + s.PathOf(f.entry) +
                                    "): revisions cannot be folded into it");
        }
        if (f.entry.kind == fmt::kKindMonth) generation = f.entry.generation;
        plan.inputs.push_back(f);
      }
      plan.out.file_id = s.next_file_id++;
      plan.out.kind = fmt::kKindMonth;
      plan.out.key = month;
      plan.out.generation = generation + 1;
      plans.push_back(std::move(plan));
    }
  }
  // Every month's file is written before one manifest lists them all with the new
  // revision_log: a crash before it leaves only unlisted files (removed at Open) and the
  // revision logs from the old revision_log on, which are replayed.
  std::vector<LiveFile> written;
  for (Plan& plan : plans) {
    std::vector<std::shared_ptr<const RollupFileReader>> readers;
    for (const LiveFile& f : plan.inputs) readers.push_back(f.reader);
    auto merged = s.WriteNewFile(plan.out, RollupLayout::kPerSeries, [&](RollupFileWriter* w) {
      return rollup::MergeInto(readers, plan.rows, w);
    });
    if (!merged.ok()) {
      if (merged.status().IsCorruption()) CountDamagedBlock();
      for (const LiveFile& f : written) {
        f.obsolete->store(true);  // never listed: removed when its reader dies
      }
      return merged.status().WithContext("rollup: folding revisions into month " +
                                         std::to_string(rollup::MonthNumber(plan.out.key)));
    }
    written.push_back(std::move(merged).value());
  }
  std::lock_guard lock(s.mu);
  std::set<uint64_t> replaced;
  for (const Plan& plan : plans) {
    for (const LiveFile& f : plan.inputs) replaced.insert(f.entry.file_id);
  }
  std::vector<LiveFile> next;
  for (const LiveFile& f : s.files) {
    if (replaced.count(f.entry.file_id) == 0) next.push_back(f);
  }
  for (LiveFile& f : written) next.push_back(std::move(f));
  const uint64_t old_log = s.revision_log;
  s.revision_log = revision_log;
  // A seal since the plan may have moved the watermark further.
  Status st = s.Publish(std::move(next), std::max(new_sealed, s.manifest.sealed_before));
  if (!st.ok()) {
    s.revision_log = old_log;
    return st;
  }
  ++s.folds;
  s.folded_rows += rows.size();
  for (const Plan& plan : plans) {
    for (const LiveFile& f : plan.inputs) f.obsolete->store(true);
  }
  return Status::OK();
}

RollupSnapshot RollupStore::Snapshot() const {
  std::lock_guard lock(impl_->mu);
  return RollupSnapshot{impl_->manifest.sealed_before, impl_->served};
}

RollupStoreStats RollupStore::stats() const {
  std::lock_guard lock(impl_->mu);
  RollupStoreStats st;
  for (const LiveFile& f : impl_->files) {
    if (!f.reader) continue;
    (f.entry.kind == fmt::kKindMonth ? st.month_files : st.part_files) += 1;
    st.rows += f.entry.rows;
    st.bytes += f.entry.file_bytes;
  }
  st.merges = impl_->merges;
  st.folds = impl_->folds;
  st.folded_rows = impl_->folded_rows;
  st.damaged_blocks = impl_->damaged_blocks.load(std::memory_order_relaxed);
  return st;
}

void RollupStore::CountDamagedBlock() {
  impl_->damaged_blocks.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace meterd::storage
