// meterd — net/ingest/collectd_json.h
//
// collectd's write_http plugin with `Format "JSON"`: the body is a JSON array of value lists,
//
//   [{"values":[1901474177],"dstypes":["derive"],"dsnames":["value"],"time":1280959128.123,
//     "interval":10.000,"host":"hv-1","plugin":"cpu","plugin_instance":"0","type":"cpu",
//     "type_instance":"idle"}]
//
// Each data source of a value list is one RawSample named <plugin>_<type>_<dsname> with the
// labels host, plugin, plugin_instance, type, type_instance, dsname and dstype (a label whose
// value is empty is left out). `time` is seconds with a fraction (collectd prints three
// decimals): it is rounded to whole milliseconds. Values keep their JSON type: an integer
// (counter, derive, absolute) stays exact, a gauge is a double, null (collectd's NaN) is a NaN.
//
// A body that is not a JSON array is malformed (false, with *why); an entry of the array that
// is not a value list (a field missing or of the wrong type, values/dstypes/dsnames of
// different lengths) is refused alone (RawBatch::AddIssue, its index from 1), the others kept.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "net/ingest/raw_sample.h"

namespace meterd::net::ingest {

bool ParseCollectdJson(std::string_view body, RawBatch* out, std::string* why);

}  // namespace meterd::net::ingest
