// meterd — storage/wal/wal_writer.cc
//
// WalWriter: group commit. Appenders copy their record into `pending` under a short mutex; one
// sync thread swaps the pending buffer out, frames it into 32 KiB blocks (checksums computed
// here, outside the appenders' lock), writes it with one WriteAtAndSync, and only then advances
// durable_lsn, wakes WaitDurable callers and runs OnDurable callbacks in LSN order.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "storage/base/check.h"
#include "storage/wal.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_record.h"

namespace meterd::storage {

using wal_format::kBlockSize;
using wal_format::kFileHeaderRecordSize;

namespace {

// One queued entry: a record of `size` payload bytes (the next `size` bytes of the pending
// buffer), or, when rotate_ticket != 0, a Rotate() marker.
struct Item {
  size_t size = 0;
  uint64_t rotate_ticket = 0;
};

// The preallocated size, rounded up to whole blocks: a file ends on a block boundary.
uint64_t EffectiveFileSize(uint64_t requested) {
  const uint64_t blocks = std::max<uint64_t>(1, (requested + kBlockSize - 1) / kBlockSize);
  return blocks * kBlockSize;
}

// What Append and Rotate answer once the writer has failed: an IOError whatever the first
// error was (the caller must not retry on this writer), naming that error.
Status FailedEarlier(const Status& failed) {
  return Status::IOError("WAL failed earlier: " + failed.ToString() +
                         "; nothing is logged until a restart");
}

// While the disk is full the sync thread tries to open a fresh file this often: space comes
// back on an operator's timescale (seconds), so a quarter second bounds the delay after it does
// at the cost of four failed file creations a second.
constexpr std::chrono::milliseconds kNoSpaceRetry{250};

// LSNs assigned but never made durable because the disk was full, and what WaitDurable answers
// for them.
struct LostRange {
  uint64_t first = 0;
  uint64_t last = 0;
  Status status;
};

}  // namespace

struct WalWriter::Impl {
  explicit Impl(const WalOptions& o) : options(o), file_size(EffectiveFileSize(o.file_size)) {}

  Status OpenNewFile(uint64_t number);
  Status SwitchFile();
  Status FlushOut();
  Status WriteGroup(std::vector<std::pair<uint64_t, uint64_t>>* rotations);
  void Run();

  const WalOptions options;
  const uint64_t file_size;

  // ---- Shared state. ----
  mutable std::mutex mu;
  std::condition_variable work_cv;     // sync thread: items queued, or stopping
  std::condition_variable space_cv;    // appenders: pending_bytes fell (backpressure)
  std::condition_variable durable_cv;  // WaitDurable / Rotate: durable_lsn or rotated changed
  std::string pending;                 // GUARDED_BY(mu): queued payloads, back to back
  std::vector<Item> items;             // GUARDED_BY(mu): one per queued record or marker
  uint64_t pending_bytes = 0;         // GUARDED_BY(mu): appended, not yet written (incl. in flight)
  uint64_t pending_high_water = 0;    // GUARDED_BY(mu): max pending_bytes ever seen (TEST_)
  std::atomic<uint64_t> last_lsn{0};  // written under mu
  std::atomic<uint64_t> durable_lsn{0};  // written under mu, by the sync thread only
  Status failed;                         // GUARDED_BY(mu): first I/O error; sticky
  Status no_space;  // GUARDED_BY(mu): the disk is full; Append refuses until a file opens again
  std::vector<LostRange> lost;               // GUARDED_BY(mu): never durable (disk full)
  std::atomic<bool> any_lost{false};         // !lost.empty(), for WaitDurable's fast path
  std::map<uint64_t, Status> rotate_failed;  // GUARDED_BY(mu): ticket -> why it did not rotate
  bool stopping = false;                     // GUARDED_BY(mu): Close() called
  bool thread_exited = false;                // GUARDED_BY(mu): the sync thread left its loop
  uint64_t rotate_tickets = 0;               // GUARDED_BY(mu): Rotate() markers issued
  std::map<uint64_t, uint64_t> rotated;      // GUARDED_BY(mu): ticket -> the file it opened
  std::multimap<uint64_t, std::function<void(const Status&)>> callbacks;  // GUARDED_BY(mu)
  WalStats stats;                                                         // GUARDED_BY(mu)
  std::atomic<uint64_t> current_number{0};
  std::atomic<IoBackend> backend{IoBackend::kPosix};

  // ---- Sync thread only (and Open/Close, before the thread starts / after it joined). ----
  std::unique_ptr<File> file;
  uint64_t file_number = 0;
  uint64_t seed = 0;         // RecordSeed(file_number)
  uint64_t file_offset = 0;  // logical end of the file: out_start + out.size()
  uint64_t out_start = 0;    // file offset of out[0]
  std::string out;           // framed bytes not yet written
  std::string batch;         // the swapped-out pending buffer
  std::vector<Item> batch_items;
  uint64_t group_written = 0;
  uint64_t group_syncs = 0;
  uint64_t retry_number = 0;  // the file number the next no-space retry creates
  std::thread thread;

  // REQUIRES: mu held. A group failed for lack of space: every record not yet durable is lost
  // (its waiters get ResourceExhausted), the queue is dropped, and Append refuses until the sync
  // thread manages to open a new file. Returns the callbacks to run (outside mu).
  std::vector<std::function<void(const Status&)>> LoseToNoSpace(const Status& cause);
  Status LostStatus(uint64_t lsn) const;  // REQUIRES: mu held; OK if lsn is not lost

  // ---- Close() ----
  std::mutex close_mu;
  bool closed = false;  // GUARDED_BY(close_mu)
  Status close_status;  // GUARDED_BY(close_mu)
};

// Creates file `number`, preallocated with zeros so that fdatasync never has to update the size,
// and makes its directory entry durable before any record in it can be acknowledged. A file
// that fails half-way (the disk is full) is removed again, best effort: recovery reads an
// empty or header-less file as holding no record.
Status WalWriter::Impl::OpenNewFile(uint64_t number) {
  const std::string path = WalFileName(options.dir, number);
  Env* env = options.env;
  if (env->FileExists(path)) return Status::AlreadyExists("WAL file exists: " + path);
  METERD_ASSIGN_OR_RETURN(auto f, env->OpenFile(path, OpenMode::kCreateTruncate, options.backend));
  Status st = f->Preallocate(file_size);
  if (st.ok()) st = f->Sync();
  if (st.ok()) st = env->SyncDir(options.dir);
  if (!st.ok()) {
    (void)f->Close();
    (void)env->RemoveFile(path);
    return st;
  }
  group_syncs += 2;
  file = std::move(f);
  file_number = number;
  seed = wal::RecordSeed(number);
  out.clear();
  out_start = 0;
  wal::AppendFragment(&out, seed, wal_format::kFileHeaderKind, wal::EncodeFileHeader(number));
  file_offset = kFileHeaderRecordSize;
  current_number.store(number, std::memory_order_release);
  backend.store(file->backend(), std::memory_order_relaxed);
  return Status::OK();
}

// Fault injection for tests and capacity planning: METERD_FAULT_SYNC_DELAY_US=N makes every
// WAL group sync take N microseconds longer, as a slow or saturated disk would. Unset (the
// default) costs nothing.
static std::chrono::microseconds InjectedSyncDelay() {
  static const std::chrono::microseconds delay = [] {
    const char* v = std::getenv("METERD_FAULT_SYNC_DELAY_US");
    return std::chrono::microseconds(v ? std::strtoll(v, nullptr, 10) : 0);
  }();
  return delay;
}

Status WalWriter::Impl::FlushOut() {
  if (out.empty()) return Status::OK();
  const auto started = std::chrono::steady_clock::now();
  METERD_RETURN_IF_ERROR(file->WriteAtAndSync(out_start, out));
  if (const auto delay = InjectedSyncDelay(); delay.count() > 0) {
    std::this_thread::sleep_for(delay);
  }
  if (options.sync_observer) options.sync_observer(std::chrono::steady_clock::now() - started);
  group_written += out.size();
  ++group_syncs;
  out_start += out.size();
  out.clear();
  return Status::OK();
}

// Everything framed so far goes to the current file (durably) before the next one is opened, so
// a file never holds a record newer than one in a higher-numbered file.
Status WalWriter::Impl::SwitchFile() {
  METERD_RETURN_IF_ERROR(FlushOut());
  METERD_RETURN_IF_ERROR(file->Close());
  return OpenNewFile(file_number + 1);
}

Status WalWriter::Impl::WriteGroup(std::vector<std::pair<uint64_t, uint64_t>>* rotations) {
  size_t pos = 0;
  for (const Item& item : batch_items) {
    if (item.rotate_ticket != 0) {
      METERD_RETURN_IF_ERROR(SwitchFile());
      rotations->emplace_back(item.rotate_ticket, file_number);
      continue;
    }
    const std::string_view payload(batch.data() + pos, item.size);
    pos += item.size;
    // A record that does not fit goes to the next file, unless this file holds no record yet
    // (a record larger than a whole file then grows the file past its preallocation).
    if (file_offset > kFileHeaderRecordSize &&
        file_offset + wal::FramedSize(file_offset, item.size) > file_size) {
      METERD_RETURN_IF_ERROR(SwitchFile());
    }
    file_offset = wal::AppendRecord(&out, file_offset, seed, payload);
  }
  return FlushOut();
}

std::vector<std::function<void(const Status&)>> WalWriter::Impl::LoseToNoSpace(
    const Status& cause) {
  no_space = Status::ResourceExhausted("WAL: the disk is full (" + std::string(cause.message()) +
                                       "); nothing is logged until space returns");
  const uint64_t first = durable_lsn.load(std::memory_order_relaxed) + 1;
  const uint64_t last = last_lsn.load(std::memory_order_relaxed);
  if (first <= last) {
    lost.push_back(LostRange{first, last, no_space});
    any_lost.store(true, std::memory_order_release);
  }
  for (const Item& item : batch_items) {
    if (item.rotate_ticket != 0) rotate_failed.emplace(item.rotate_ticket, no_space);
  }
  for (const Item& item : items) {
    if (item.rotate_ticket != 0) rotate_failed.emplace(item.rotate_ticket, no_space);
  }
  pending_bytes -= pending.size();
  pending.clear();
  items.clear();
  std::vector<std::function<void(const Status&)>> out;
  for (auto& entry : callbacks) out.push_back(std::move(entry.second));
  callbacks.clear();
  return out;
}

Status WalWriter::Impl::LostStatus(uint64_t lsn) const {
  for (const LostRange& r : lost) {
    if (lsn >= r.first && lsn <= r.last) return r.status;
  }
  return Status::OK();
}

void WalWriter::Impl::Run() {
  std::vector<std::pair<uint64_t, uint64_t>> rotations;
  std::vector<std::function<void(const Status&)>> ready;
  std::unique_lock<std::mutex> lock(mu);
  while (true) {
    if (!no_space.ok()) {
      // Disk full: nothing is queued (Append refuses); retry a fresh file now and then. The
      // file the failure happened in is never written again, so no record whose write or sync
      // failed can be taken for durable later (the lesson of PostgreSQL's fsync bug).
      work_cv.wait_for(lock, kNoSpaceRetry, [this] { return stopping; });
      if (stopping) break;
      lock.unlock();
      Status st = OpenNewFile(retry_number++);
      lock.lock();
      if (st.ok()) {
        no_space = Status::OK();
        std::fprintf(stderr, "meterd wal: event=disk_space_back file=%llu\n",
                     static_cast<unsigned long long>(file_number));
      } else if (!st.IsNoSpace()) {
        failed = std::move(st);
        break;
      }
      continue;
    }
    work_cv.wait(lock, [this] { return !items.empty() || stopping; });
    if (items.empty()) break;  // stopping, and everything appended is written
    batch.swap(pending);
    batch_items.swap(items);
    pending.clear();
    items.clear();
    const uint64_t group_last = last_lsn.load(std::memory_order_relaxed);
    lock.unlock();

    rotations.clear();
    group_written = 0;
    group_syncs = 0;
    Status s = WriteGroup(&rotations);

    lock.lock();
    pending_bytes -= batch.size();
    for (const auto& r : rotations) rotated.emplace(r.first, r.second);
    stats.written_bytes += group_written;
    stats.syncs += group_syncs;
    if (!s.ok() && s.IsNoSpace()) {
      // Recoverable: the group is lost (never acknowledged), the writer is not.
      std::fprintf(stderr, "meterd wal: event=disk_full error=\"%s\"\n", s.ToString().c_str());
      retry_number = file_number + 1;
      ready = LoseToNoSpace(s);
      const Status lost_status = no_space;
      lock.unlock();
      space_cv.notify_all();
      durable_cv.notify_all();
      for (auto& done : ready) done(lost_status);
      ready.clear();
      lock.lock();
      continue;
    }
    if (!s.ok()) {
      failed = std::move(s);
      break;
    }
    uint64_t records = 0;
    for (const Item& item : batch_items) records += item.rotate_ticket == 0 ? 1 : 0;
    stats.records += records;
    stats.payload_bytes += batch.size();
    durable_lsn.store(group_last, std::memory_order_release);
    auto end = callbacks.upper_bound(group_last);
    for (auto it = callbacks.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    callbacks.erase(callbacks.begin(), end);
    lock.unlock();
    space_cv.notify_all();
    durable_cv.notify_all();
    const Status ok;
    for (auto& done : ready) done(ok);  // LSN order: the multimap is sorted
    ready.clear();
    lock.lock();
  }
  // Failed, or closed and drained: nobody else will make a record durable.
  const Status error =
      failed.ok() ? Status::IOError("WAL closed before the record was durable") : failed;
  thread_exited = true;
  for (auto& entry : callbacks) ready.push_back(std::move(entry.second));
  callbacks.clear();
  lock.unlock();
  space_cv.notify_all();
  durable_cv.notify_all();
  for (auto& done : ready) done(error);
}

WalWriter::WalWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WalWriter::~WalWriter() { (void)Close(); }

Result<std::unique_ptr<WalWriter>> WalWriter::Open(const WalOptions& options,
                                                   uint64_t first_number) {
  auto impl = std::make_unique<Impl>(options);
  METERD_RETURN_IF_ERROR(impl->OpenNewFile(first_number));
  impl->stats.syncs = impl->group_syncs;
  Impl* p = impl.get();
  p->thread = std::thread([p] { p->Run(); });
  return std::unique_ptr<WalWriter>(new WalWriter(std::move(impl)));
}

Result<uint64_t> WalWriter::Append(std::string_view record) {
  Impl& s = *impl_;
  uint64_t lsn;
  {
    std::unique_lock<std::mutex> lock(s.mu);
    while (s.pending_bytes > s.options.max_pending_bytes && s.failed.ok() && !s.stopping) {
      s.space_cv.wait(lock);
    }
    if (!s.failed.ok()) return FailedEarlier(s.failed);
    if (s.stopping) return Status::Unavailable("WAL writer is closed");
    if (!s.no_space.ok()) return s.no_space;
    s.pending.append(record);
    s.items.push_back(Item{record.size(), 0});
    s.pending_bytes += record.size();
    s.pending_high_water = std::max(s.pending_high_water, s.pending_bytes);
    lsn = s.last_lsn.load(std::memory_order_relaxed) + 1;
    s.last_lsn.store(lsn, std::memory_order_relaxed);
  }
  s.work_cv.notify_one();
  return lsn;
}

Status WalWriter::WaitDurable(uint64_t lsn) {
  Impl& s = *impl_;
  // Lock-free while no record was ever lost to a full disk (the norm).
  if (!s.any_lost.load(std::memory_order_acquire) &&
      lsn <= s.durable_lsn.load(std::memory_order_acquire)) {
    return Status::OK();
  }
  std::unique_lock<std::mutex> lock(s.mu);
  if (Status lost = s.LostStatus(lsn); !lost.ok()) return lost;
  if (lsn <= s.durable_lsn.load(std::memory_order_acquire)) return Status::OK();
  if (lsn > s.last_lsn.load(std::memory_order_relaxed)) {
    return Status::InvalidArgument("WaitDurable on an LSN not yet assigned");
  }
  s.durable_cv.wait(lock, [&] {
    return s.durable_lsn.load() >= lsn || !s.failed.ok() || !s.LostStatus(lsn).ok();
  });
  if (Status lost = s.LostStatus(lsn); !lost.ok()) return lost;
  return s.durable_lsn.load() >= lsn ? Status::OK() : s.failed;
}

void WalWriter::OnDurable(uint64_t lsn, std::function<void(const Status&)> done) {
  Impl& s = *impl_;
  Status now;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    now = s.LostStatus(lsn);
    if (now.ok() && lsn > s.durable_lsn.load(std::memory_order_relaxed)) {
      if (s.failed.ok() && !s.thread_exited) {
        s.callbacks.emplace(lsn, std::move(done));
        return;
      }
      now = s.failed.ok() ? Status::IOError("WAL writer is closed") : s.failed;
    }
  }
  done(now);
}

uint64_t WalWriter::durable_lsn() const {
  return impl_->durable_lsn.load(std::memory_order_acquire);
}
uint64_t WalWriter::last_lsn() const { return impl_->last_lsn.load(std::memory_order_relaxed); }

Result<uint64_t> WalWriter::Rotate() {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.mu);
  if (!s.failed.ok()) return FailedEarlier(s.failed);
  if (s.stopping) return Status::Unavailable("WAL writer is closed");
  if (!s.no_space.ok()) return s.no_space;
  const uint64_t ticket = ++s.rotate_tickets;
  s.items.push_back(Item{0, ticket});
  s.work_cv.notify_one();
  s.durable_cv.wait(lock, [&] {
    return s.rotated.count(ticket) != 0 || s.rotate_failed.count(ticket) != 0 || !s.failed.ok();
  });
  if (auto f = s.rotate_failed.find(ticket); f != s.rotate_failed.end()) {
    Status why = std::move(f->second);
    s.rotate_failed.erase(f);
    return why;
  }
  auto it = s.rotated.find(ticket);
  if (it == s.rotated.end()) return s.failed;
  const uint64_t number = it->second;
  s.rotated.erase(it);
  return number;
}

uint64_t WalWriter::current_file_number() const {
  return impl_->current_number.load(std::memory_order_acquire);
}

Status WalWriter::Close() {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> close_lock(s.close_mu);
  if (s.closed) return s.close_status;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stopping = true;
  }
  s.work_cv.notify_all();
  s.space_cv.notify_all();
  if (s.thread.joinable()) s.thread.join();
  Status st;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    st = s.failed;
  }
  if (s.file) {
    Status c = s.file->Close();
    if (st.ok()) st = std::move(c);
  }
  s.closed = true;
  s.close_status = st;
  return st;
}

WalStats WalWriter::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  WalStats st = impl_->stats;
  st.durable_lsn = impl_->durable_lsn.load(std::memory_order_relaxed);
  return st;
}

IoBackend WalWriter::backend() const { return impl_->backend.load(std::memory_order_relaxed); }

uint64_t WalWriter::TEST_pending_high_water() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->pending_high_water;
}

}  // namespace meterd::storage
