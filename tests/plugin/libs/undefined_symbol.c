/* A plugin library that needs a symbol nothing defines: dlopen(RTLD_NOW) fails with "undefined symbol". */
#include "normrt/plugin.h"

extern const normrt_plugin_library* normrt_test_symbol_that_nothing_defines(uint32_t host_abi_version);

NORMRT_PLUGIN_EXPORT const normrt_plugin_library* normrt_plugin_get_library(uint32_t host_abi_version) {
  return normrt_test_symbol_that_nothing_defines(host_abi_version);
}
