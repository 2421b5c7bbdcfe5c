// meterd — engine/pricebook/billing_store.cc
#include "engine/pricebook/billing_store.h"

#include <algorithm>
#include <chrono>

#include "engine/pricebook/book_document.h"

namespace meterd::engine::pricebook {
namespace {

using tenancy::ApplyReport;
using tenancy::ChangeKind;
using tenancy::DocErrors;
using tenancy::DocNode;

constexpr std::string_view kModule = "pricebook";
constexpr int64_t kSchemaVersion = 1;

// Versions are append-only (triggers refuse an UPDATE or DELETE); each holds the whole book
// in its canonical JSON form (book_document.h). `applies` is the audit trail of applies.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS price_book_versions (
  version INTEGER PRIMARY KEY,
  effective_from INTEGER NOT NULL UNIQUE,
  body TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS price_book_versions_no_update BEFORE UPDATE ON price_book_versions
BEGIN SELECT RAISE(ABORT, 'price book versions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS price_book_versions_no_delete BEFORE DELETE ON price_book_versions
BEGIN SELECT RAISE(ABORT, 'price book versions are append-only'); END;
CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY,
  account TEXT NOT NULL REFERENCES accounts(id) DEFERRABLE INITIALLY DEFERRED,
  product TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  start INTEGER NOT NULL,
  end_at INTEGER,
  description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS applies (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  applied_at INTEGER NOT NULL,
  summary TEXT NOT NULL);
)sql";

constexpr std::string_view kBookSections[] = {"price_books", "subscriptions"};

bool IsKnownSection(std::string_view key) {
  if (key == "schema") return true;
  for (std::string_view k : tenancy::TenancyStore::SectionKeys()) {
    if (k == key) return true;
  }
  for (std::string_view k : kBookSections) {
    if (k == key) return true;
  }
  return false;
}

const DocNode* SectionList(const DocNode& root, std::string_view key, DocErrors* errors) {
  const DocNode* seq = root.Find(key);
  if (seq == nullptr || seq->is_null()) return nullptr;
  if (!seq->is_sequence()) {
    errors->Add(seq->line, std::string(key), "must be a list");
    return nullptr;
  }
  return seq;
}

std::string SubscriptionDiff(const Subscription& a, const Subscription& b) {
  std::string out;
  auto field = [&](bool differs, const char* name) {
    if (!differs) return;
    if (!out.empty()) out += ", ";
    out += name;
  };
  field(a.quantity != b.quantity, "quantity");
  field(a.start != b.start, "start");
  field(a.end != b.end, "end");
  field(a.description != b.description, "description");
  return out;
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const Subscription* SubscriptionSet::Find(std::string_view id) const {
  auto it = std::lower_bound(subscriptions.begin(), subscriptions.end(), id,
                             [](const Subscription& s, std::string_view k) { return s.id < k; });
  return it != subscriptions.end() && it->id == id ? &*it : nullptr;
}

std::vector<const Subscription*> SubscriptionSet::OfAccount(std::string_view account) const {
  std::vector<const Subscription*> out;
  for (const Subscription& s : subscriptions) {
    if (s.account == account) out.push_back(&s);
  }
  return out;
}

BillingStore::~BillingStore() = default;

Result<std::unique_ptr<BillingStore>> BillingStore::Open(const std::string& data_dir,
                                                         const MetricCatalog* metrics) {
  std::unique_ptr<BillingStore> store(new BillingStore());
  if (metrics == nullptr) {
    store->builtin_metrics_ = std::make_unique<MetricCatalog>();
    metrics = store->builtin_metrics_.get();
  }
  store->metrics_ = metrics;
  METERD_ASSIGN_OR_RETURN(store->db_,
                          tenancy::BillingDb::Open(tenancy::BillingDb::PathIn(data_dir)));
  METERD_ASSIGN_OR_RETURN(store->tenancy_, tenancy::TenancyStore::Open(store->db_.get()));
  {
    METERD_ASSIGN_OR_RETURN(tenancy::Transaction txn, store->db_->Begin());
    METERD_RETURN_IF_ERROR(tenancy::BillingDb::EnsureSchema(txn, kModule, kSchemaVersion, kSchema));
    METERD_RETURN_IF_ERROR(txn.Commit());
  }
  METERD_RETURN_IF_ERROR(store->Load());
  return store;
}

Status BillingStore::Load() {
  std::vector<PriceBookVersion> versions;
  auto subs = std::make_shared<SubscriptionSet>();
  {
    METERD_ASSIGN_OR_RETURN(tenancy::Transaction txn, db_->Begin());
    METERD_ASSIGN_OR_RETURN(
        tenancy::Statement st,
        txn.Prepare("SELECT version, body FROM price_book_versions ORDER BY version"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      const std::string where = "billing.db: price book version " + std::to_string(st.Int(0));
      Result<DocNode> doc = tenancy::ParseDocument(st.Text(1), tenancy::DocFormat::kJson);
      if (!doc.ok()) return Status::Corruption(where + ": " + std::string(doc.status().message()));
      DocErrors errors;
      BookContext ctx;  // stored: no references re-checked
      std::optional<PriceBookVersion> v = DecodeVersion(*doc, "body", ctx, &errors);
      if (!v) return Status::Corruption(where + ": " + std::string(errors.ToStatus().message()));
      if (v->version != static_cast<uint64_t>(st.Int(0))) {
        return Status::Corruption(where + ": its body says version " + std::to_string(v->version));
      }
      versions.push_back(std::move(*v));
    }
    METERD_ASSIGN_OR_RETURN(tenancy::Statement ss,
                            txn.Prepare("SELECT id, account, product, quantity, start, end_at, "
                                        "description FROM subscriptions ORDER BY id"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, ss.Step());
      if (!row) break;
      Subscription s;
      s.id = ss.Text(0);
      s.account = ss.Text(1);
      s.product = ss.Text(2);
      s.quantity = static_cast<uint32_t>(ss.Int(3));
      s.start = ss.Int(4);
      s.end = ss.IsNull(5) ? kNoEnd : ss.Int(5);
      s.description = ss.Text(6);
      subs->subscriptions.push_back(std::move(s));
    }
    txn.Rollback();
  }
  Result<std::shared_ptr<const PriceBook>> book = PriceBook::Build(std::move(versions));
  if (!book.ok()) return Status::Corruption("billing.db: " + std::string(book.status().message()));
  std::lock_guard<std::mutex> lock(mu_);
  tenancy_snapshot_ = tenancy_->Current();
  price_book_ = std::move(book).value();
  subscriptions_ = std::move(subs);
  return Status::OK();
}

BillingSnapshot BillingStore::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return BillingSnapshot{tenancy_snapshot_, price_book_, subscriptions_, retro_changes_};
}

Result<Estimate> BillingStore::EstimateCost(const EstimateRequest& request) const {
  const BillingSnapshot snap = Current();
  return EstimatePlan(*snap.price_book, *snap.tenancy, request);
}

Result<ApplyReport> BillingStore::Apply(std::string_view text, tenancy::DocFormat format,
                                        std::vector<tenancy::DocError>* errors_out, bool dry_run) {
  METERD_ASSIGN_OR_RETURN(DocNode root, tenancy::ParseDocument(text, format));
  return ApplyDocument(root, errors_out, dry_run);
}

Result<ApplyReport> BillingStore::ApplyDocument(const DocNode& root,
                                                std::vector<tenancy::DocError>* errors_out,
                                                bool dry_run, const Precondition& precondition) {
  std::lock_guard<std::mutex> apply_lock(apply_mu_);
  const BillingSnapshot base = Current();
  if (precondition) METERD_RETURN_IF_ERROR(precondition(base));
  DocErrors errors;
  ApplyReport report;
  tenancy::CheckSchema(root, &errors);
  for (const auto& [key, node] : root.entries) {
    if (!IsKnownSection(key)) {
      errors.Add(node.line, key,
                 "is not a section (locations, plan_groups, plans, domains, accounts, projects, "
                 "resources, billing_profiles, tax_rates, tax_settings, invoice_issuers, "
                 "discounts, coupons, coupon_redemptions, price_books, subscriptions)");
    }
  }

  // 1. Tenancy.
  tenancy::TenancyPlan tplan = tenancy_->Prepare(root, &errors, &report);
  const tenancy::Tenancy& next_tenancy = tplan.next ? *tplan.next : *base.tenancy;

  // 2. Price book versions, append-only.
  const std::vector<PriceBookVersion>& stored = base.price_book->versions();
  std::vector<PriceBookVersion> added;
  if (const DocNode* books = SectionList(root, "price_books", &errors)) {
    for (size_t i = 0; i < books->items.size(); ++i) {
      const std::string path = "price_books[" + std::to_string(i) + "]";
      const DocNode& node = books->items[i];
      BookContext ctx{&next_tenancy, metrics_, {}};
      const DocNode* number_node = node.Find("version");
      uint64_t number = 0;
      if (number_node && number_node->is_scalar()) {
        number = std::strtoull(number_node->scalar.c_str(), nullptr, 10);
      }
      for (const PriceBookVersion& v : stored) {
        if (number == 0 || v.version < number) ctx.earlier.push_back(&v);
      }
      for (const PriceBookVersion& v : added) ctx.earlier.push_back(&v);
      std::optional<PriceBookVersion> v = DecodeVersion(node, path, ctx, &errors);
      if (!v) continue;
      const int line = number_node ? number_node->line : node.line;
      if (v->version <= stored.size()) {
        if (stored[v->version - 1].SameContent(*v)) {
          report.Add("price_book", std::to_string(v->version), ChangeKind::kUnchanged);
        } else {
          errors.Add(line, path + ".version",
                     "price book version " + std::to_string(v->version) +
                         " is already stored with other content; versions are append-only: "
                         "publish the change as version " +
                         std::to_string(stored.size() + added.size() + 1));
        }
        continue;
      }
      const uint64_t expected = stored.size() + added.size() + 1;
      if (v->version != expected) {
        errors.Add(line, path + ".version",
                   "must be " + std::to_string(expected) + ", the next version number");
        continue;
      }
      const PriceBookVersion* prev =
          !added.empty() ? &added.back() : (stored.empty() ? nullptr : &stored.back());
      if (prev && v->effective_from <= prev->effective_from) {
        const DocNode* f = node.Find("effective_from");
        errors.Add(f ? f->line : node.line, path + ".effective_from",
                   "must be later than version " + std::to_string(prev->version) + "'s (" +
                       tenancy::FormatTime(prev->effective_from) + ")");
        continue;
      }
      report.Add("price_book", std::to_string(v->version), ChangeKind::kCreated,
                 "in force from " + tenancy::FormatTime(v->effective_from) + ", " +
                     std::to_string(v->products.size()) + " products, " +
                     std::to_string(v->currencies.size()) + " currencies");
      added.push_back(std::move(*v));
    }
  }
  std::shared_ptr<const PriceBook> next_book = base.price_book;
  if (!added.empty() && errors.empty()) {
    std::vector<PriceBookVersion> all = stored;
    for (const PriceBookVersion& v : added) all.push_back(v);
    Result<std::shared_ptr<const PriceBook>> built = PriceBook::Build(std::move(all));
    if (!built.ok()) {
      errors.Add(root.Find("price_books")->line, "price_books",
                 std::string(built.status().message()));
    } else {
      next_book = std::move(built).value();
    }
  }

  // Product and group discounts name a product or a product group of the price book (any
  // version, stored or in this document): checked for those the document creates or changes.
  if (const DocNode* list = root.Find("discounts"); list && list->is_sequence() && errors.empty()) {
    for (const tenancy::Discount& d : tplan.upserts.discounts) {
      if (d.scope == tenancy::DiscountScope::kAccount) continue;
      bool known = false;
      for (const PriceBookVersion& v : next_book->versions()) {
        for (const Product& p : v.products) {
          known =
              known || (d.scope == tenancy::DiscountScope::kProduct ? p.id : p.group) == d.target;
        }
      }
      if (known) continue;
      for (size_t i = 0; i < list->items.size(); ++i) {
        const DocNode* id = list->items[i].Find("id");
        if (id == nullptr || !id->is_scalar() || id->scalar != d.id) continue;
        const DocNode* target = list->items[i].Find("target");
        errors.Add(target ? target->line : list->items[i].line,
                   "discounts[" + std::to_string(i) + "].target",
                   "\"" + d.target + "\" is not a " +
                       (d.scope == tenancy::DiscountScope::kProduct ? "product" : "product group") +
                       " of the price book");
      }
    }
  }

  // The earliest hour the change may re-rate (see SetClosedBefore).
  int64_t changed_from = tplan.changed_from;
  for (const PriceBookVersion& v : added) changed_from = std::min(changed_from, v.effective_from);

  // 3. Subscriptions, by id.
  auto next_subs = std::make_shared<SubscriptionSet>(*base.subscriptions);
  std::vector<Subscription> sub_rows;
  if (const DocNode* subs = SectionList(root, "subscriptions", &errors)) {
    std::vector<std::string> seen;
    for (size_t i = 0; i < subs->items.size(); ++i) {
      const std::string path = "subscriptions[" + std::to_string(i) + "]";
      std::optional<Subscription> s =
          DecodeSubscription(subs->items[i], path, next_tenancy, *next_book, &errors);
      if (!s) continue;
      if (std::find(seen.begin(), seen.end(), s->id) != seen.end()) {
        errors.Add(subs->items[i].line, path + ".id", "subscription " + s->id + " is listed twice");
        continue;
      }
      seen.push_back(s->id);
      const Subscription* old = base.subscriptions->Find(s->id);
      if (old == nullptr) {
        report.Add("subscription", s->id, ChangeKind::kCreated);
        changed_from = std::min(changed_from, s->start - s->start % 3600);  // fees from then
      } else if (old->account != s->account || old->product != s->product) {
        errors.Add(subs->items[i].line, path,
                   "subscription " + s->id + " is of account " + old->account + " to " +
                       old->product +
                       "; its account and product never change (end it and "
                       "create another)");
        continue;
      } else if (*old == *s) {
        report.Add("subscription", s->id, ChangeKind::kUnchanged);
        continue;
      } else {
        report.Add("subscription", s->id, ChangeKind::kUpdated, SubscriptionDiff(*old, *s));
        changed_from = INT64_MIN;  // its fees may move in any hour since it started
      }
      sub_rows.push_back(*s);
      auto& list = next_subs->subscriptions;
      auto it =
          std::lower_bound(list.begin(), list.end(), s->id,
                           [](const Subscription& a, const std::string& k) { return a.id < k; });
      if (it != list.end() && it->id == s->id) {
        *it = *s;
      } else {
        list.insert(it, *s);
      }
    }
  }

  if (errors_out) *errors_out = errors.list();
  METERD_RETURN_IF_ERROR(errors.ToStatus());
  if (dry_run || !report.changed()) return report;

  // 4. One transaction; publish after the commit.
  {
    METERD_ASSIGN_OR_RETURN(tenancy::Transaction txn, db_->Begin());
    METERD_RETURN_IF_ERROR(tenancy_->Write(tplan, txn));
    METERD_ASSIGN_OR_RETURN(
        tenancy::Statement ins,
        txn.Prepare("INSERT INTO price_book_versions(version, effective_from, body) "
                    "VALUES(?1, ?2, ?3)"));
    for (const PriceBookVersion& v : added) {
      ins.Bind(1, int64_t{v.version}).Bind(2, v.effective_from).Bind(3, EncodeVersion(v).dump());
      METERD_RETURN_IF_ERROR(ins.Run());
      METERD_RETURN_IF_ERROR(ins.Reset());
    }
    METERD_ASSIGN_OR_RETURN(
        tenancy::Statement sub,
        txn.Prepare("INSERT INTO subscriptions(id, account, product, quantity, start, end_at, "
                    "description) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE "
                    "SET quantity = excluded.quantity, start = excluded.start, end_at = "
                    "excluded.end_at, description = excluded.description"));
    for (const Subscription& s : sub_rows) {
      sub.Bind(1, s.id).Bind(2, s.account).Bind(3, s.product).Bind(4, int64_t{s.quantity});
      sub.Bind(5, s.start);
      if (s.end == kNoEnd) {
        sub.BindNull(6);
      } else {
        sub.Bind(6, s.end);
      }
      sub.Bind(7, s.description);
      METERD_RETURN_IF_ERROR(sub.Run());
      METERD_RETURN_IF_ERROR(sub.Reset());
    }
    METERD_ASSIGN_OR_RETURN(tenancy::Statement log,
                            txn.Prepare("INSERT INTO applies(applied_at, summary) VALUES(?1, ?2)"));
    log.Bind(1, UnixNow()).Bind(2, report.Summary());
    METERD_RETURN_IF_ERROR(log.Run());
    METERD_RETURN_IF_ERROR(txn.Commit());
  }
  tenancy_->Publish(tplan);
  {
    std::lock_guard<std::mutex> lock(mu_);
    tenancy_snapshot_ = tplan.next ? tplan.next : base.tenancy;
    price_book_ = next_book;
    subscriptions_ = std::move(next_subs);
  }
  // Asked after the snapshot is published: an hour that closes from now on is rated with it, so
  // only hours already closed can have been rated without the change.
  if (!closed_before_ || changed_from < closed_before_()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++retro_changes_;
  }
  report.applied = true;
  return report;
}

}  // namespace meterd::engine::pricebook
