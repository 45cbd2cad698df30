/* A plugin written in C that claims another ABI version; it also shows that normrt/plugin.h is plain C. */
#include "normrt/plugin.h"

static const normrt_plugin_library library = {NORMRT_PLUGIN_ABI_VERSION + 41u, "from the future", 0, 0};

NORMRT_PLUGIN_EXPORT const normrt_plugin_library* normrt_plugin_get_library(uint32_t host_abi_version) {
  (void)host_abi_version;
  return &library;
}
