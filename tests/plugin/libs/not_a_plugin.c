/* A shared library that loads fine but is no normrt plugin (it exports no normrt_plugin_get_library). */
int normrt_test_not_a_plugin(void);
int normrt_test_not_a_plugin(void) { return 1; }
