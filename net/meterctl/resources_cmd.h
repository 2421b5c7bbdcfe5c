// meterd — net/meterctl/resources_cmd.h: meterctl's commands that change the registry of record
// for resources, one resource at a time (ResourceChange; docs/protocol.md, "Resources"), and
// show what agents reported (ListResourceHosts):
//
//   resources create ID --type T --project P [--location L] [--plan P] [--storage-tier S]
//                       [--name N] [--agent-id A] [--at TIME] [--dry-run]
//   resources update ID [the same attributes; those left out keep their value] [--at TIME]
//   resources delete ID [--at TIME]
//   resources hosts [--unattributed] [--resource R]
//
// --at is when the change takes effect (RFC 3339 or unix seconds; default now). A change in the
// past re-attributes the hours it touches; the billing clock books the difference as an
// adjustment. Create, update and delete print the apply's summary (JSON: the apply's object);
// refused changes exit 1 with the reason. Admin key for changes, billing or admin for hosts.
// `resources list|show` (catalog_cmd.h) read the tenancy back.
//
// Thread-safety: not synchronised (one command per process).
#pragma once

#include <CLI/CLI.hpp>

#include "net/meterctl/common.h"

namespace meterd::cli {

// Adds create, update, delete and hosts to the `resources` group RegisterCatalogCommands made.
void RegisterResourceCommands(CLI::App& app, Common& common);

}  // namespace meterd::cli
