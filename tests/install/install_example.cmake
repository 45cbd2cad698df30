# ctest: install normrt into a fresh prefix, build examples/cpp against it with find_package(normrt), and run
# the example on examples/models/conv_gn_relu. Run with -DNORMRT_BUILD_DIR=... -DNORMRT_SOURCE_DIR=...
# -DWORK_DIR=... -P install_example.cmake.
foreach(var NORMRT_BUILD_DIR NORMRT_SOURCE_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "${var} is not set")
  endif()
endforeach()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "${what} failed (${code}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run_step("install" ${CMAKE_COMMAND} --install ${NORMRT_BUILD_DIR} --prefix ${prefix})
foreach(file include/normrt/normrt.h include/normrt/plugin.h bin/normrt lib/libnormrt.so
        lib/cmake/normrt/normrtConfig.cmake lib/cmake/normrt/normrtConfigVersion.cmake)
  if(NOT EXISTS ${prefix}/${file})
    message(FATAL_ERROR "the install has no ${file}")
  endif()
endforeach()
# Nothing internal is installed: every installed header is public API.
file(GLOB_RECURSE headers RELATIVE ${prefix}/include ${prefix}/include/*)
foreach(h ${headers})
  if(NOT h MATCHES "^normrt/[a-z_]+\\.h$")
    message(FATAL_ERROR "unexpected installed header ${h}")
  endif()
endforeach()

set(compiler_args "")
if(EXAMPLE_CXX_COMPILER)
  list(APPEND compiler_args -DCMAKE_CXX_COMPILER=${EXAMPLE_CXX_COMPILER})
endif()
if(EXAMPLE_CXX_FLAGS)
  list(APPEND compiler_args "-DCMAKE_CXX_FLAGS=${EXAMPLE_CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${EXAMPLE_CXX_FLAGS}")
endif()
run_step("configure the example" ${CMAKE_COMMAND} -S ${NORMRT_SOURCE_DIR}/examples/cpp -B ${WORK_DIR}/build
         -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix} ${compiler_args})
run_step("build the example" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
set(model ${NORMRT_SOURCE_DIR}/examples/models/conv_gn_relu)
run_step("run the example" ${WORK_DIR}/build/normrt_example ${model}/model.onnx ${model}/input.npy
         ${WORK_DIR}/conv_gn_relu.nrt)
message("${step_output}")
if(NOT step_output MATCHES "output 'output' float32 \\[2,16,32,32\\]" OR NOT step_output MATCHES "all runs agree")
  message(FATAL_ERROR "the example printed something unexpected:\n${step_output}")
endif()
# The installed CLI runs the engine the example saved.
run_step("run the installed CLI" ${prefix}/bin/normrt inspect ${WORK_DIR}/conv_gn_relu.nrt)
