// Which manifest of an image index (OCI index or Docker schema 2 manifest list) is for the
// requested `--platform OS/ARCH[/VARIANT]`, and what kind of document a manifest response is.
// Pure: JSON text in, a descriptor out.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "compose/oci_layout.h"

namespace imageinit::compose::registry {

struct Platform {
    std::string os;
    std::string architecture;
    std::string variant;  // "" = any (the plain one preferred)
    std::string to_string() const;
};

// "linux/amd64", "linux/arm64/v8"; OS and ARCH are required.
Result<Platform> parse_platform(std::string_view text);

// linux and the architecture this program was built for, in GOARCH names.
Platform host_platform();

enum class DocumentKind { kIndex, kManifest };

// Media types a registry may answer with, in the order we prefer them (the Accept header).
extern const char* const kManifestMediaTypes[];
extern const size_t kManifestMediaTypeCount;

// From the document's own mediaType, else the response's Content-Type. Schema 1 and anything
// unknown are errors that name the type.
Result<DocumentKind> document_kind(std::string_view body, std::string_view content_type);

// The manifest for `want` in an index; an error lists the platforms the index has.
Result<Descriptor> select_platform(std::string_view index_json, const Platform& want);

}  // namespace imageinit::compose::registry
