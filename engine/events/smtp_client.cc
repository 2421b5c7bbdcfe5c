// meterd — engine/events/smtp_client.cc
#include "engine/events/smtp_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

namespace meterd::engine::events {
namespace {

// curl_global_init is not thread-safe on every libcurl: run it once, before the first handle.
void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

struct Upload {
  std::string_view data;
  size_t offset = 0;
};

size_t ReadBody(char* buffer, size_t size, size_t count, void* user) {
  auto* up = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, up->data.size() - up->offset);
  std::memcpy(buffer, up->data.data() + up->offset, n);
  up->offset += n;
  return n;
}

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load(std::memory_order_relaxed) ? 1 : 0;
}

constexpr size_t kMaxUrlLength = 2048;

}  // namespace

Result<StartTls> ParseStartTls(std::string_view text) {
  if (text == "required") return StartTls::kRequired;
  if (text == "try") return StartTls::kTry;
  if (text == "off") return StartTls::kOff;
  return Status::InvalidArgument("--smtp-starttls is required, try or off");
}

Status ValidateSmtpUrl(std::string_view url) {
  if (url.size() > kMaxUrlLength) return Status::InvalidArgument("smtp url is over 2048 bytes");
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Status::InvalidArgument("smtp url has whitespace or control characters");
    }
  }
  if (!url.starts_with("smtp://") && !url.starts_with("smtps://")) {
    return Status::InvalidArgument("smtp url must start with smtp:// or smtps://");
  }
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u) return Status::IOError("libcurl: curl_url failed");
  const std::string text(url);
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return Status::InvalidArgument("smtp url '" + text + "' does not parse");
  }
  char* part = nullptr;
  if (curl_url_get(u.get(), CURLUPART_USER, &part, 0) == CURLUE_OK) {
    curl_free(part);
    return Status::InvalidArgument(
        "smtp url must not carry credentials (use --smtp-user and --smtp-password-file)");
  }
  if (curl_url_get(u.get(), CURLUPART_HOST, &part, 0) != CURLUE_OK || part == nullptr ||
      *part == '\0') {
    if (part) curl_free(part);
    return Status::InvalidArgument("smtp url has no host");
  }
  curl_free(part);
  return Status::OK();
}

SmtpClient::SmtpClient(SmtpOptions options) : options_(std::move(options)) { GlobalInit(); }

SmtpOutcome SmtpClient::Send(std::string_view from, std::string_view to, std::string_view message) {
  SmtpOutcome out;
  if (cancelled_.load(std::memory_order_relaxed)) {
    out.error = "cancelled";
    return out;
  }
  std::unique_ptr<CURL, EasyDeleter> h(curl_easy_init());
  if (!h) {
    out.error = "libcurl: curl_easy_init failed";
    return out;
  }
  const std::string mail_from = "<" + std::string(from) + ">";
  std::unique_ptr<curl_slist, ListDeleter> rcpt(
      curl_slist_append(nullptr, ("<" + std::string(to) + ">").c_str()));
  Upload upload{message, 0};
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadBody);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  if (options_.url.starts_with("smtp://")) {
    switch (options_.starttls) {
      case StartTls::kRequired:
        curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
        break;
      case StartTls::kTry:
        curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
        break;
      case StartTls::kOff:
        curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_NONE));
        break;
    }
  }
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!options_.user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, options_.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, options_.password.c_str());
  }
  const long timeout_ms = static_cast<long>(std::max<int64_t>(options_.timeout.count(), 1));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for name lookups
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, Progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &cancelled_);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  const CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  out.status = static_cast<int>(code);
  if (rc == CURLE_OK) return out;
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    out.error = "cancelled";
    return out;
  }
  out.error = curl_easy_strerror(rc);
  if (errbuf[0] != '\0') out.error += std::string(": ") + errbuf;
  if (out.error.size() > 300) out.error.resize(300);
  return out;
}

}  // namespace meterd::engine::events
